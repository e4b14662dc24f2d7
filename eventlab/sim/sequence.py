"""A sequence diagram laid out from a simulation run's history (pure): one swimlane per node, one row per step with
the arrow of the message that step delivered (or dropped, lost, delayed, or the timer it fired), and notes in a
column right of the lanes for what the nodes recorded or suffered (each with a tick on its lane).

Each lab says how its messages look (`style`: extra kinds and a label) and which of its nodes' events become notes
(`note`); crashes, recoveries and duplicates are noted the same way in every lab. Templates draw the result
(templates/sim/_sequence.svg.html). Colour is never the only signal: kinds become classes the stylesheet dashes,
and a dropped or lost message ends in a cross and says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .engine import DELIVERIES, SimEvent

LANE_GAP, MARGIN, TOP, ROW, NOTE_H = 130, 80, 58, 34, 13
CHAR_W = 7  # about one character of a note (bold or not), in px: the notes column is as wide as its longest note
RED = {"compensation", "failure", "abort"}  # kinds drawn red (and, in the stylesheet, dashed or labelled too)
OUTCOMES = {"MessageDropped": "dropped", "MessageLost": "lost", "MessageDelayed": "delayed"}

Style = Callable[[dict[str, Any]], tuple[list[str], str]]  # a delivery's data -> (extra kinds, label)
Note = Callable[[SimEvent], "tuple[str, str] | None"]  # an event -> (text, kind), or None for no note


@dataclass
class Arrow:
    step: int
    y: int
    x1: int
    x2: int
    label: str
    kinds: list[str] = field(default_factory=list)  # message, timer, dropped, lost, delayed, and the lab's own
    note: str = ""

    @property
    def self_loop(self) -> bool:
        return self.x1 == self.x2

    @property
    def red(self) -> bool:
        return bool(RED.intersection(self.kinds))

    @property
    def crossed(self) -> bool:
        """It never arrived: the line ends in a cross."""
        return "dropped" in self.kinds or "lost" in self.kinds

    @property
    def end_x(self) -> int:
        """Where the line stops: a dropped message stops half-way, a lost or delayed one just short of its target."""
        if "dropped" in self.kinds:
            return (self.x1 + self.x2) // 2
        if "lost" in self.kinds or "delayed" in self.kinds:
            return self.x2 - (18 if self.x2 > self.x1 else -18)
        return self.x2

    @property
    def mid_x(self) -> int:
        return (self.x1 + self.end_x) // 2


@dataclass
class Mark:
    """A note in the column right of the lanes (what a node recorded or suffered), with a tick on its lane."""

    step: int
    y: int
    x: int  # the node's lane
    text: str
    kind: str

    @property
    def width(self) -> int:
        return len(self.text) * CHAR_W + 8


def engine_note(event: SimEvent, label: Callable[[str], str]) -> tuple[str, str] | None:
    """What every lab notes of the engine's own events: crashes, recoveries, duplicates."""
    data = event.data
    if event.type == "NodeCrashed":
        return f"{label(data['node'])} crashed: memory lost", "crash"
    if event.type == "NodeRecovered":
        return f"{label(data['node'])} recovered: replayed {data['replayed']} events", "recovered"
    if event.type == "MessageDuplicated":
        return f"{data['type']} duplicated (×2)", "duplicate"
    return None


def note_lane(event: SimEvent) -> str | None:
    data = event.data
    return data["to"] if event.type == "MessageDuplicated" else data.get("node")


def layout(history: Iterable[SimEvent], steps: int, lanes: list[tuple[str, str]], style: Style,
           note: Note = lambda event: None) -> dict[str, Any]:
    """The diagram: `lanes` are (node, label) pairs, left to right; `steps` the run's steps so far.

    Rows are as tall as their notes need, so the notes of one step never run into the next step's arrow."""
    x = {name: MARGIN + i * LANE_GAP for i, (name, _) in enumerate(lanes)}
    labels = dict(lanes)
    arrows: list[Arrow] = []
    marks: list[Mark] = []
    for event in history:
        data = event.data
        if event.type in DELIVERIES and event.step > 0:
            if data["from"] not in x or data["to"] not in x:
                continue
            kinds, label = style(data)
            kinds = ["timer" if data["from"] == data["to"] else "message", *kinds]
            outcome = OUTCOMES.get(event.type)
            text = ""
            if outcome:
                kinds.append(outcome)
                text = {"dropped": "dropped by the network", "lost": data.get("reason", "lost"),
                        "delayed": f"delayed {data.get('ms', 0):,} ms"}[outcome]
            arrows.append(Arrow(event.step, 0, x[data["from"]], x[data["to"]], label, kinds, text))
            continue
        noted = note(event) or engine_note(event, lambda name: labels.get(name, name))
        lane = note_lane(event)
        if noted and lane in x:
            marks.append(Mark(event.step, 0, x[lane], *noted))
    # Each step's row: its arrow on the row's line, its notes stacked below it.
    per_step: dict[int, int] = {}
    for mark in marks:
        per_step[mark.step] = per_step.get(mark.step, 0) + 1
    ys = [TOP]
    for step in range(1, max(steps, 1) + 2):
        ys.append(ys[-1] + max(ROW, NOTE_H * per_step.get(step - 1, 0) + 8))
    for arrow in arrows:
        arrow.y = ys[arrow.step]
    stacked: dict[int, int] = {}
    for mark in marks:
        mark.y = ys[mark.step] - 4 + NOTE_H * stacked.get(mark.step, 0)
        stacked[mark.step] = stacked.get(mark.step, 0) + 1
    notes_x = MARGIN * 2 + LANE_GAP * (len(lanes) - 1)
    bottom = ys[max(steps, 1) + 1]
    return {
        "lanes": [{"name": name, "label": label, "x": x[name]} for name, label in lanes],
        "arrows": arrows, "marks": marks, "notes_x": notes_x,
        "width": notes_x + max([230] + [m.width + 10 for m in marks]),
        "height": bottom + 10, "lane_bottom": bottom,
    }
