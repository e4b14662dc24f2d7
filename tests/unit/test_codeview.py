"""The Event Sourcing page's code view, pure: branches of the bank's decide/evolve found in the source's syntax tree,
and the branch a command takes found by running decide itself."""

from decimal import Decimal
from pathlib import Path

import pytest

from eventlab.bank import domain
from eventlab.learn import codeview

OPEN = domain.Account("a-1", "Ada", Decimal("10.00"), "open", 2)


def lines_of(branch: codeview.Branch) -> list[str]:
    source = codeview.load()
    return [source.line(n).strip() for n in branch.lines]


@pytest.mark.parametrize("state, command, key, first_line", [
    (OPEN, domain.Deposit("a-1", Decimal("5")), "decide:Deposit", "case Deposit(account_id, amount):"),
    (OPEN, domain.Withdraw("a-1", Decimal("5")), "decide:Withdraw", "case Withdraw(account_id, amount):"),
    (OPEN, domain.Withdraw("a-1", Decimal("50")), "decide:Withdraw:refused:1", "case Withdraw(account_id, amount):"),
    (OPEN, domain.OpenAccount("a-1", "Bo"), "decide:OpenAccount:refused:1", "case OpenAccount(account_id, owner):"),
    (OPEN, domain.CloseAccount("a-1"), "decide:CloseAccount:refused:1", "case CloseAccount(account_id):"),
    (domain.Account("a-2"), domain.Deposit("a-2", Decimal("1")), "decide:any:refused:1", 'if state.status == "new":'),
    (domain.Account("a-1", "Ada", Decimal("0"), "closed", 3), domain.Deposit("a-1", Decimal("1")),
     "decide:any:refused:2", 'if state.status == "closed":'),
    (domain.Account("a-2"), domain.OpenAccount("a-2", "Bo"), "decide:OpenAccount", "case OpenAccount(account_id, owner):"),
])
def test_the_branch_that_handled_a_command_is_found_by_running_decide(state, command, key, first_line):
    handled = codeview.handled_by(state, command)
    assert handled.decide is not None and handled.decide.key == key
    assert lines_of(handled.decide)[0] == first_line
    assert handled.accepted == (not handled.decide.refused)
    if handled.accepted:
        assert lines_of(handled.decide)[-1].startswith("return [")
        assert [b.function for b in handled.evolve] == ["evolve"]
    else:
        assert any(line.startswith("raise Rejected(") for line in lines_of(handled.decide))
        assert handled.reason and handled.evolve == ()


def test_line_numbers_come_from_the_syntax_tree_not_from_fixed_numbers(tmp_path):
    text = Path(codeview.source_path()).read_text(encoding="utf-8")
    moved = tmp_path / "domain.py"
    moved.write_text("# one\n# two\n# three\n" + text, encoding="utf-8")
    here, there = codeview.load(), codeview._parse(str(moved), 1)
    assert [b.key for b in here.branches] == [b.key for b in there.branches]
    for a, b in zip(here.branches, there.branches, strict=True):
        assert [n + 3 for n in a.lines] == list(b.lines)
    assert there.spans["decide"][0] == here.spans["decide"][0] + 3


def test_the_highlighted_code_is_pygments_output_with_the_lit_lines_marked():
    source = codeview.load()
    branch = next(b for b in source.branches if b.key == "decide:Deposit")
    html = codeview.python_html("decide", branch.lines, source)
    assert html.startswith('<div class="code"><pre>')
    assert html.count('<span class="hll">') == len(branch.lines)
    assert f'<span class="linenos">{source.spans["decide"][0]}</span>' in html
    assert "PersistentActor" in codeview.scala_html() and codeview.GUIDE_SCALA.count("\n") == 24


def test_lines_in_words():
    assert codeview.lines_text((7,)) == "line 7"
    assert codeview.lines_text((236, 239)) == "lines 236 and 239"
    assert codeview.lines_text((240, 241, 242)) == "lines 240–242"
    assert codeview.lines_text((227, 228, 229, 231)) == "lines 227–229 and 231"
