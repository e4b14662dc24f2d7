"""What the classroom's pages and live pushes show, built once from a class's state (shared by views and live)."""

from __future__ import annotations

from typing import Any

from . import domain as d

LETTERS = "ABCDEF"


def poll_view(poll: d.Poll | None, learner_id: str | None = None) -> dict[str, Any] | None:
    """A poll as its templates show it: per choice its letter, text and count in each round (rounds side by side),
    whether it is the correct one (only once revealed), and the learner's own vote this round when given."""
    if poll is None:
        return None
    counts = poll.all_counts()
    voters = poll.voters()
    revealed = poll.state == "revealed"
    rounds = sorted(counts)
    rows = []
    for i, text in enumerate(poll.choices):
        cells = []
        for r in rounds:
            n = counts[r][i]
            cells.append({"round": r, "n": n, "pct": round(100 * n / voters[r]) if voters[r] else 0})
        rows.append({"index": i, "letter": LETTERS[i], "text": text, "cells": cells,
                     "correct": revealed and poll.correct == i})
    mine = poll.vote_of(learner_id) if learner_id else None
    return {
        "id": poll.poll_id, "question": poll.question, "state": poll.state, "round": poll.round, "rounds": rounds,
        "rows": rows, "voters": [{"round": r, "n": voters[r]} for r in rounds], "is_open": poll.is_open,
        "revealed": revealed, "correct": poll.correct, "correct_letter": LETTERS[poll.correct]
        if poll.correct is not None else "", "mine": mine, "mine_letter": LETTERS[mine] if mine is not None else "",
    }
