"""The class as a pure fold and its decisions (eventlab.classroom.domain): joins, renames, polls, votes and rounds."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlab.classroom import domain as d


def opened(*learners: str) -> d.ClassState:
    state = d.fold(d.decide_open("Week 3", "ABCDEFGH"))
    for learner in learners:
        d.fold(d.decide_join(state, learner, learner.title()), state)
    return state


def act(state: d.ClassState, events: list[d.Event]) -> d.ClassState:
    return d.fold(events, state)


def test_a_class_opens_with_its_name_and_code_and_learners_join():
    state = opened("ada", "bob")
    assert (state.name, state.code) == ("Week 3", "ABCDEFGH")
    assert [learner.name for learner in state.roster] == ["Ada", "Bob"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, None, 3])
def test_a_name_is_required_and_at_most_100_characters(name):
    with pytest.raises(d.Refused):
        d.decide_join(opened(), "ada", name)


def test_a_name_of_100_characters_is_fine_and_spaces_are_tidied():
    assert d.decide_join(opened(), "ada", "  a" + "b" * 99 + " ")[0].name == "a" + "b" * 99


def test_rename_and_remove():
    state = opened("ada")
    act(state, d.decide_rename(state, "ada", "Ada L."))
    assert state.member("ada").name == "Ada L."
    assert d.decide_rename(state, "ada", "Ada L.") == []
    act(state, d.decide_remove(state, "ada"))
    assert state.roster == []
    with pytest.raises(d.Unknown):
        d.decide_remove(state, "ada")


def test_a_closed_class_refuses_joins_polls_and_votes():
    state = opened("ada")
    act(state, d.decide_open_poll(state, "p1", "Q?", ["a", "b"]))
    act(state, d.decide_close(state))
    assert d.decide_close(state) == []
    with pytest.raises(d.TooLate, match="closed"):
        d.decide_join(state, "bob", "Bob")
    with pytest.raises(d.TooLate):
        d.decide_open_poll(state, "p2", "Q?", ["a", "b"])
    with pytest.raises(d.TooLate):
        d.decide_vote(state, "p1", "ada", 0)


@pytest.mark.parametrize("choices", [["one"], ["a"] * 7, "ab", [1, 2], ["a", " "]])
def test_a_poll_has_two_to_six_choices(choices):
    with pytest.raises(d.Refused, match="choice"):
        d.decide_open_poll(opened(), "p1", "Q?", choices)


@pytest.mark.parametrize("correct", [-1, 2, True, "1"])
def test_the_correct_answer_is_one_of_the_choices(correct):
    with pytest.raises(d.Refused, match="correct"):
        d.decide_open_poll(opened(), "p1", "Q?", ["a", "b"], correct)


def test_a_vote_can_change_until_the_round_closes_then_round_two_then_reveal():
    state = opened("ada", "bob")
    act(state, d.decide_open_poll(state, "p1", "Which?", ["a", "b", "c"], correct=2))
    act(state, d.decide_vote(state, "p1", "ada", 0))
    act(state, d.decide_vote(state, "p1", "bob", 0))
    act(state, d.decide_vote(state, "p1", "ada", 1))  # changed her mind
    assert d.decide_vote(state, "p1", "ada", 1) == []  # the same vote again changes nothing
    poll = state.polls["p1"]
    assert poll.counts(1) == [1, 1, 0]
    act(state, d.decide_next_round(state, "p1"))
    assert (poll.round, poll.counts(2)) == (2, [0, 0, 0])
    act(state, d.decide_vote(state, "p1", "ada", 2))
    act(state, d.decide_vote(state, "p1", "bob", 2))
    with pytest.raises(d.TooLate, match="at most 2 rounds"):
        d.decide_next_round(state, "p1")
    act(state, d.decide_reveal(state, "p1"))
    assert poll.state == "revealed"
    assert poll.all_counts() == {1: [1, 1, 0], 2: [0, 0, 2]}
    assert poll.voters() == {1: 2, 2: 2}
    with pytest.raises(d.TooLate, match="closed"):
        d.decide_vote(state, "p1", "ada", 0)


def test_only_members_vote_for_a_choice_that_exists():
    state = opened("ada")
    act(state, d.decide_open_poll(state, "p1", "Q?", ["a", "b"]))
    with pytest.raises(d.Unknown):
        d.decide_vote(state, "p1", "eve", 0)
    with pytest.raises(d.Unknown):
        d.decide_vote(state, "p2", "ada", 0)
    for choice in (2, -1, True, "0"):
        with pytest.raises(d.Refused):
            d.decide_vote(state, "p1", "ada", choice)


def test_opening_a_poll_closes_the_open_one():
    state = opened("ada")
    act(state, d.decide_open_poll(state, "p1", "Q1?", ["a", "b"]))
    act(state, d.decide_open_poll(state, "p2", "Q2?", ["a", "b"]))
    assert state.polls["p1"].state == "closed"
    assert state.current_poll.poll_id == "p2"


def test_every_event_round_trips_through_its_data():
    state = opened("ada")
    events = d.decide_open_poll(state, "p1", "Q?", ["a", "b"], 1) + [d.RunHandedOut("lab", "run", 3)]
    for event in events:
        assert d.event_from(event.type, event.data()) == event


LEARNERS = [f"l{i}" for i in range(5)]
actions = st.lists(
    st.one_of(
        st.tuples(st.just("vote"), st.sampled_from(LEARNERS), st.integers(0, 3)),
        st.tuples(st.just("round"), st.none(), st.none()),
        st.tuples(st.just("close"), st.none(), st.none()),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_every_vote_is_counted_exactly_once_whatever_the_order(plan):
    """Model: the last accepted vote of each learner in each round. The fold's counts always match it, and a refused
    vote (closed poll) changes nothing."""
    state = opened(*LEARNERS)
    act(state, d.decide_open_poll(state, "p", "Q?", ["a", "b", "c", "d"]))
    expected: dict[int, dict[str, int]] = {1: {}}
    round_, open_ = 1, True
    for kind, learner, choice in plan:
        try:
            if kind == "vote":
                act(state, d.decide_vote(state, "p", learner, choice))
                expected[round_][learner] = choice
            elif kind == "round":
                act(state, d.decide_next_round(state, "p"))
                round_ += 1
                expected[round_] = {}
            else:
                act(state, d.decide_close_poll(state, "p"))
                open_ = False
        except d.TooLate:
            assert not open_ or (kind == "round" and round_ == d.MAX_ROUNDS)
    poll = state.polls["p"]
    for r, votes in expected.items():
        counts = [0, 0, 0, 0]
        for choice in votes.values():
            counts[choice] += 1
        assert poll.counts(r) == counts
        assert poll.voters()[r] == len(votes) == sum(poll.counts(r))


def test_a_copy_folds_on_without_changing_the_original():
    state = opened("ada")
    act(state, d.decide_open_poll(state, "p1", "Q?", ["a", "b"]))
    act(state, d.decide_vote(state, "p1", "ada", 0))
    copy = state.copy()
    act(copy, d.decide_vote(copy, "p1", "ada", 1))
    act(copy, d.decide_rename(copy, "ada", "Ada L."))
    act(copy, d.decide_next_round(copy, "p1"))
    assert (state.polls["p1"].counts(1), state.polls["p1"].round, state.member("ada").name) == ([1, 0], 1, "Ada")
    assert (copy.polls["p1"].counts(1), copy.polls["p1"].round, copy.version) == ([0, 1], 2, state.version + 3)
