"""The Event Sourcing page's code view: the bank's own aggregate (`decide` and `evolve` from eventlab/bank/domain.py),
read from its source file so the page never drifts from the code, highlighted on the server with Pygments, beside the
course guide's Scala/Akka version — with the branch that handled the learner's last bank command lit.

Pure Python (no Django), and it imports no lab: the domain module it shows is `domain_of()`, which the course's
AppConfig.ready() points at the lab registry's code view (the lab that registers one: today the bank). The branches are found in the source's syntax tree (the `ast` module), never by hard-coded
line numbers: each `case` of `decide`'s matches, each `if … raise` refusal in it, and each `case` of `evolve`.
Which branch handled a command is found from what `decide` did when the command ran (`located`): a refusal by the line
its `Rejected` was raised from (the traceback of the exception the lab keeps on its outcome), an accepted command by
its command class's `case`. `handled_by` runs `decide` on a given state and locates its branch the same way.

Only source code goes through Pygments; nothing a learner typed ever does (labels are rendered by the template, which
escapes them).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, ScalaLexer


def _no_domain() -> ModuleType:
    raise LookupError("no lab's domain is shown: the course's AppConfig.ready() sets codeview.domain_of")


domain_of: Callable[[], ModuleType] = _no_domain
CSS_CLASS = "code"  # the wrapper class; static/eventlab/code.css styles it (made by `css()` below)
SHOWN = ("evolve", "decide")  # the functions shown, in the order they stand in the module

# The course guide's own example (section 1.3, "Basic Scala Example"), verbatim.
GUIDE_SCALA = """\
// Command
case class CreateOrder(id: UUID, items: List[String]) extends Command

// Event
case class OrderCreated(id: UUID, items: List[String], timestamp: Instant) extends Event

// Aggregate handling writes
class OrderAggregate extends PersistentActor {
  override def receiveCommand: Receive = {
    case cmd: CreateOrder =>
      // Validate
      if (cmd.items.nonEmpty)
        persist(OrderCreated(cmd.id, cmd.items, Instant.now)) { evt =>
          // Inform success
          sender() ! Right("Order created")
        }
      else
        sender() ! Left("No items in order")
  }

  override def receiveRecover: Receive = {
    case evt: OrderCreated => // rebuild state if needed
  }
}
"""


@dataclass(frozen=True)
class Branch:
    """One path through `decide` (or one case of `evolve`), located in the source file."""

    key: str  # stable within one version of the source: "decide:Deposit", "decide:Withdraw:refused:1", "evolve:…"
    function: str  # "decide" or "evolve"
    command: str  # the command (or event) class the branch is for; "" for a check that applies to every command
    refused: bool  # True: the branch raises Rejected (appends nothing)
    lines: tuple[int, ...]  # line numbers in the source file to light
    says: str  # what the branch does, in words (the source line that decides it, stripped)


@dataclass(frozen=True)
class Source:
    path: str
    mtime_ns: int  # the file's modification time when it was read (the highlighting cache's key)
    lines: tuple[str, ...]  # the whole file, 1-based through `line(n)`
    spans: dict[str, tuple[int, int]]  # function name -> (first line, last line)
    branches: tuple[Branch, ...]

    def line(self, number: int) -> str:
        return self.lines[number - 1]

    def text(self, function: str) -> str:
        first, last = self.spans[function]
        return "\n".join(self.lines[first - 1:last]) + "\n"


def source_path() -> str:
    return os.path.abspath(str(domain_of().__file__))


def load() -> Source:
    """The bank domain's source, parsed; re-read whenever the file changes (cached by its modification time)."""
    path = source_path()
    return _parse(path, os.stat(path).st_mtime_ns)


@lru_cache(maxsize=4)
def _parse(path: str, mtime_ns: int) -> Source:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    tree = ast.parse(text, filename=path)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in SHOWN}
    lines = tuple(text.splitlines())
    spans = {name: (node.lineno, node.end_lineno or node.lineno) for name, node in functions.items()}
    branches = list(_decide_branches(functions["decide"], lines)) + list(_evolve_branches(functions["evolve"], lines))
    return Source(path, mtime_ns, lines, spans, tuple(branches))


def _class_of(case: ast.match_case) -> str:
    pattern = case.pattern
    if isinstance(pattern, ast.MatchClass) and isinstance(pattern.cls, ast.Name):
        return pattern.cls.id
    return ""


def _span(node: ast.stmt | ast.expr | ast.pattern) -> tuple[int, ...]:
    return tuple(range(node.lineno, (node.end_lineno or node.lineno) + 1))


def _raises(node: ast.If) -> bool:
    return any(isinstance(stmt, ast.Raise) for stmt in node.body)


def _decide_branches(function: ast.FunctionDef, lines: tuple[str, ...]) -> Iterator[Branch]:
    """Every way out of `decide`: a refusal (`if …: raise Rejected`) or an accepted command (its case's `return`)."""
    refusals: dict[str, int] = {}

    def refusal(node: ast.If, command: str, case_line: int | None) -> Branch:
        refusals[command] = refusals.get(command, 0) + 1
        lit = ((case_line,) if case_line else ()) + _span(node)
        return Branch(f"decide:{command or 'any'}:refused:{refusals[command]}", "decide", command, True, lit,
                      lines[node.lineno - 1].strip())

    for stmt in function.body:
        if isinstance(stmt, ast.If) and _raises(stmt):
            yield refusal(stmt, "", None)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                command = _class_of(case)
                if not command:
                    continue
                for inner in case.body:
                    if isinstance(inner, ast.If) and _raises(inner):
                        yield refusal(inner, command, case.pattern.lineno)
                    elif isinstance(inner, ast.Return):
                        yield Branch(f"decide:{command}", "decide", command, False,
                                     (case.pattern.lineno, *_span(inner)), lines[case.pattern.lineno - 1].strip())


def _evolve_branches(function: ast.FunctionDef, lines: tuple[str, ...]) -> Iterator[Branch]:
    for stmt in function.body:
        if isinstance(stmt, ast.Match):
            for case in stmt.cases:
                event = _class_of(case)
                if event:
                    yield Branch(f"evolve:{event}", "evolve", event, False,
                                 tuple(range(case.pattern.lineno, (case.body[-1].end_lineno or case.pattern.lineno) + 1)),
                                 lines[case.pattern.lineno - 1].strip())


# --- Which branch handled a command --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    """What `decide` did with one command on the state it saw, and the branches that did it."""

    accepted: bool
    reason: str  # the refusal's words ("" when accepted)
    decide: Branch | None  # the branch of decide that handled it (None if it cannot be located)
    evolve: tuple[Branch, ...]  # for an accepted command: the case of evolve that folds each of its events


def handled_by(state: Any, command: Any, source: Source | None = None) -> Handled:
    """Run `decide(state, command)` — pure, so running it again changes nothing — and locate the branch it took."""
    source = source or load()
    domain = domain_of()
    try:
        events = domain.decide(state, command)
    except domain.Rejected as rejected:
        line = _raised_from(rejected)
        branch = next((b for b in source.branches if b.function == "decide" and b.refused and line in b.lines), None)
        return Handled(False, str(rejected), branch, ())
    command_name = type(command).__name__
    branch = next((b for b in source.branches if b.key == f"decide:{command_name}"), None)
    folds = tuple(b for name in dict.fromkeys(type(e).__name__ for e in events)
                  for b in source.branches if b.key == f"evolve:{name}")
    return Handled(True, "", branch, folds)


def located(command: str, event_types: Sequence[str], error: BaseException | None,
            source: Source | None = None) -> tuple[str, tuple[str, ...]] | None:
    """The keys of the branches that handled a command, from what `decide` did with it when it ran (nothing is run
    again): a refusal's traceback names the line of `decide` it was raised from, so the `if … raise` holding it; an
    accepted command's class names its `case`, and its events' types the cases of `evolve` that fold them.
    None: decide never ran (refused while reading the input, or by the store's command-id record)."""
    source = source or load()
    if error is not None:
        line = _raised_from(error)
        branch = next((b for b in source.branches if b.function == "decide" and b.refused and line in b.lines), None)
        return (branch.key, ()) if line and branch is not None else None
    return f"decide:{command}", tuple(f"evolve:{name}" for name in dict.fromkeys(event_types))


def handled_from(accepted: bool, reason: str, decide: str, evolve: Sequence[str],
                 source: Source | None = None) -> Handled:
    """What `located` found, as branches of the source as it is now (a key the source no longer has is left out)."""
    by_key = {b.key: b for b in (source or load()).branches}
    return Handled(accepted, reason, by_key.get(decide), tuple(by_key[k] for k in evolve if k in by_key))


def _raised_from(error: BaseException) -> int:
    """The line of `decide` the exception was raised from (0 if it did not come from decide)."""
    line = 0
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is domain_of().decide.__code__:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# --- Rendering -----------------------------------------------------------------------------------------------------


def _formatter(first_line: int, lit: list[int]) -> HtmlFormatter:
    return HtmlFormatter(cssclass=CSS_CLASS, linenos="inline", linenostart=first_line, hl_lines=lit, wrapcode=True)


def python_html(function: str, lit: tuple[int, ...] = (), source: Source | None = None) -> str:
    """One function of the bank domain, highlighted, with the given file lines lit. Pygments output only.

    Cached per version of the file and set of lit lines (a handful: one per branch), since highlighting takes a few
    milliseconds."""
    source = source or load()
    first, last = source.spans[function]
    relative = tuple(sorted({n - first + 1 for n in lit if first <= n <= last}))
    return _highlighted(source.path, source.mtime_ns, source.text(function), first, relative)


@lru_cache(maxsize=64)
def _highlighted(path: str, mtime_ns: int, code: str, first: int, relative: tuple[int, ...]) -> str:
    html: str = highlight(code, PythonLexer(), _formatter(first, list(relative)))
    return html


def scala_html() -> str:
    return _scala_html()


@lru_cache(maxsize=1)
def _scala_html() -> str:
    html: str = highlight(GUIDE_SCALA, ScalaLexer(), _formatter(1, []))
    return html


BACKGROUND = "#f8f8f8"  # the code blocks' background
LIT_BACKGROUND = "#fff0b3"  # a lit line's background (with a bar in the margin, so colour is not the only signal)
LAYOUT = f"""\
/* Layout of the Event Sourcing page's code view (templates/learn/_code_view.html). */
.code-view .code-pair {{ display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1rem; }}
@media (max-width: 64rem) {{ .code-view .code-pair {{ grid-template-columns: minmax(0, 1fr); }} }}
.code-view figure {{ margin: 0; min-width: 0; }}
.code-view figcaption {{ font-size: .9rem; margin: 0 0 .3rem; }}
.code-view .code-scroll {{ overflow-x: auto; border: 1px solid #d4d9df; border-radius: 6px; margin: 0 0 .6rem; }}
.code-view .code-last {{ border-left: 4px solid #7a4b00; background: #fff4dc; padding: .3rem .8rem; margin: .6rem 0; }}
.{CSS_CLASS} {{ background: {BACKGROUND}; }}
.{CSS_CLASS} pre {{ margin: 0; padding: .5rem .6rem; line-height: 1.4; font-size: .82rem; }}
.{CSS_CLASS} pre code {{ font-size: inherit; }}
.{CSS_CLASS} .linenos {{ color: #4d5560; padding-right: .8rem; user-select: none; }}
.{CSS_CLASS} .hll {{ background-color: {LIT_BACKGROUND}; box-shadow: -0.45rem 0 0 #7a4b00; font-weight: 600; }}
"""


def _luminance(colour: str) -> float:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours (#rgb or #rrggbb)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _darkened(colour: str, minimum: float = 4.6) -> str:
    """The colour, darkened (towards black, keeping its hue) until it meets `minimum` on both code backgrounds."""
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    rgb = [int(value[i:i + 2], 16) for i in (0, 2, 4)]
    factor = 1.0
    while True:
        candidate = "#" + "".join(f"{round(c * factor):02x}" for c in rgb)
        if min(contrast(candidate, BACKGROUND), contrast(candidate, LIT_BACKGROUND)) >= minimum or factor <= 0:
            return candidate
        factor -= 0.02


def css() -> str:
    """What static/eventlab/code.css holds: the code view's layout, then Pygments' "default" style scoped to
    `.code`, every text colour darkened where needed to meet WCAG AA (4.5:1) on the plain and the lit background."""
    import re

    rules = []
    for line in HtmlFormatter(style="default", cssclass=CSS_CLASS).get_style_defs(f".{CSS_CLASS}").splitlines():
        if not line.startswith(f".{CSS_CLASS} .") or line.startswith(f".{CSS_CLASS} .hll"):
            continue  # the unscoped rules, the background and the lit line are ours (LAYOUT)
        rules.append(re.sub(r"color: (#[0-9A-Fa-f]{3,6})", lambda m: f"color: {_darkened(m.group(1))}", line))
    header = "/* Made by eventlab.learn.codeview.css(); a test checks this file equals it. */\n"
    return header + LAYOUT + "\n".join(rules) + "\n"


def lines_text(lines: tuple[int, ...]) -> str:
    """File line numbers in words: "line 7", "lines 236 and 239", "lines 240–244", "lines 227, 228–229"."""
    runs: list[list[int]] = []
    for n in sorted(set(lines)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs]
    if not parts:
        return ""
    label = "line" if len(parts) == 1 and len(runs[0]) == 1 else "lines"
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{label} {joined}"
