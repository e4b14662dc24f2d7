"""The course: its topics in order, each with a one-line summary, the lab that shows it and the picture it needs.

Pure Python (no Django): the views, the quiz checks and the tests read it. A topic's text is the template
`templates/learn/topics/<slug>.html`, which fills the blocks of `templates/learn/topic.html`.
"""

from __future__ import annotations

from dataclasses import dataclass

# The sections of every topic page, in order: (id, heading). Quiz questions point at one of these ids (`anchor`).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("what", "What it is"),
    ("why", "Why it matters"),
    ("analogy", "An everyday analogy"),
    ("how", "How it works, precisely"),
    ("diagram", "The picture"),
    ("best-practices", "Best practices"),
    ("drawbacks", "Drawbacks"),
    ("interview-questions", "Interview questions"),
    ("try-it", "Try it"),
    ("quiz", "Quiz"),
)
SECTION_IDS: tuple[str, ...] = tuple(section_id for section_id, _ in SECTIONS)

# The labs a "try it" or a predict question can open, and what each offers besides presets.
LABS = ("bank", "sagas", "twopc", "resilience")
LAB_TITLES = {"bank": "the bank lab", "sagas": "the saga lab", "twopc": "the 2PC lab",
              "resilience": "the resilience lab"}
# Views of a lab a learner can be sent to directly (no run to start): name -> (URL name, #fragment).
LAB_VIEWS: dict[tuple[str, str], tuple[str, str]] = {
    ("bank", "commands"): ("bank-lab", "commands-h"),
    ("bank", "events"): ("bank-lab", "log-h"),
    ("bank", "readmodels"): ("bank-lab", "readmodels-section"),
    ("bank", "time-travel"): ("bank-lab", "time-travel-section"),
    ("bank", "race"): ("bank-lab", "commands-h"),
    ("sagas", "lab"): ("saga-lab", ""),
    ("twopc", "lab"): ("twopc-lab", ""),
    ("twopc", "compare"): ("twopc-compare", ""),
    ("twopc", "matrix"): ("twopc-matrix", ""),
    ("resilience", "lab"): ("resilience-lab", ""),
}
# The simulation labs, whose presets "try it" starts (each registers its run pages in the lab registry).
PRESET_LABS = ("sagas", "twopc", "resilience")


@dataclass(frozen=True)
class Target:
    """Where "try it" (or a predict question's scenario) takes the learner: a preset run, or a lab view."""

    lab: str
    preset: str = ""  # a simulation lab's preset, started in the session's working lab
    view: str = ""  # or one of LAB_VIEWS
    label: str = ""  # the button's words

    def __post_init__(self) -> None:
        if self.lab not in LABS:
            raise ValueError(f"unknown lab {self.lab!r}")
        if bool(self.preset) == bool(self.view):
            raise ValueError("a target is a preset or a view, not both")
        if self.preset and self.lab not in PRESET_LABS:
            raise ValueError(f"{self.lab} has no presets to start")
        if self.view and (self.lab, self.view) not in LAB_VIEWS:
            raise ValueError(f"unknown view {self.view!r} of {self.lab}")

    @property
    def lab_title(self) -> str:
        return LAB_TITLES[self.lab]


# The two pictures the course is built around, each a series of stages a learner moves through.
PIPELINE = "pipeline"  # Commands -> Write model -> Event store -> Projections -> Read model
SAGA = "saga"  # Orchestrator -> services, with the compensation path back
DIAGRAMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    PIPELINE: (
        ("commands", "Commands", "A command asks for a change: Deposit 50.00 into acc-1. It may be refused."),
        ("write-model", "Write model", "The aggregate loads its events, checks the rules and decides which new "
                                       "events the command causes (or rejects it, appending nothing)."),
        ("event-store", "Event store", "The new events are appended to the log, at the next version of the stream "
                                       "and the next lab-wide position. Nothing stored is ever changed."),
        ("projections", "Projections", "Projections read the log in order and fold each event into read models, "
                                       "remembering how far they got (their checkpoint)."),
        ("read-model", "Read model", "Queries read the read models: fast, shaped for one screen, and possibly a "
                                     "little behind the log (eventual consistency)."),
    ),
    SAGA: (
        ("orchestrator", "Orchestrator", "The orchestrator sends each step's command and waits for the reply: it "
                                         "is the one place that knows where the order is."),
        ("orders", "Orders", "Orders creates the order (CreateOrder, then OrderCreated)."),
        ("payments", "Payments", "Payments reserves the money (ReservePayment, then PaymentReserved or "
                                 "PaymentFailed)."),
        ("inventory", "Inventory", "Inventory ships the items (ShipItems, then ItemsShipped or ShippingFailed)."),
        ("compensation", "Compensation", "When a step fails, the orchestrator walks back: ShippingFailed leads to "
                                         "RefundPayment then CancelOrder; PaymentFailed leads to CancelOrder."),
    ),
}


def stage_ids(diagram: str) -> tuple[str, ...]:
    return tuple(stage for stage, _, _ in DIAGRAMS[diagram])


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    summary: str
    try_it: Target
    try_it_says: str  # what the learner will see when the lab opens
    diagram: str | None = None  # one of DIAGRAMS, shown on the page with the learner's stage lit

    @property
    def template(self) -> str:
        return f"learn/topics/{self.slug}.html"


TOPICS: tuple[Topic, ...] = (
    Topic("event-sourcing", "Event Sourcing",
          "Commands append immutable events; state is a fold of the log; time travel and an audit log for free.",
          Target("bank", view="commands", label="Open the bank lab"),
          "The bank lab: send a command, watch its events append to the log, and see a refused command append "
          "nothing.", PIPELINE),
    Topic("snapshots-and-versioning", "Snapshots and event versioning",
          "Load fast from a snapshot plus the tail; read old event schemas as new ones (upcasting).",
          Target("bank", view="time-travel", label="Open time travel in the bank lab"),
          "The bank lab's time travel: scrub an account through its versions and see how many events each load "
          "replayed after which snapshot; old deposits read as schema v2."),
    Topic("cqrs", "CQRS and eventual consistency",
          "Commands and queries on separate paths; several read models from one log; a paused one lags.",
          Target("bank", view="readmodels", label="Open the read models in the bank lab"),
          "The bank lab's read models: each with its checkpoint and lag. Pause or slow one down, send a command, "
          "and watch it fall behind, then catch up.", PIPELINE),
    Topic("api-gateway-and-discovery", "API gateway and service discovery",
          "One entry point that authenticates, limits, routes and aggregates; a registry of healthy instances.",
          Target("resilience", preset="instance-dies-under-load", label="Run: an instance dies under load"),
          "The resilience lab with an instance dying under load: the registry evicts it and the gateway routes "
          "around it."),
    Topic("circuit-breaker-bulkhead-retry", "Circuit breaker, bulkhead, retry with backoff",
          "Contain a failing dependency instead of letting it take everything else down.",
          Target("resilience", preset="breaker-trips-and-recovers", label="Run: the breaker trips and recovers"),
          "The resilience lab with a failing dependency: the breaker goes CLOSED, OPEN, HALF_OPEN and back."),
    Topic("two-phase-commit", "Two-Phase Commit",
          "Prepare, vote, commit or roll back, and the coordinator crash that leaves everyone blocked in doubt.",
          Target("twopc", preset="coordinator-crash-after-prepare", label="Run: the coordinator crashes after "
                                                                          "prepare"),
          "The 2PC lab with the coordinator crashing after the participants voted Yes: they hold their locks, "
          "in doubt, until you recover the coordinator from its log."),
    Topic("sagas", "Sagas: orchestration and choreography",
          "Local transactions with compensations instead of distributed locks.",
          Target("sagas", preset="payment-declined", label="Run: the payment is declined"),
          "The saga lab with the payment declined: PaymentFailed, then the compensation CancelOrder.", SAGA),
    Topic("saga-vs-2pc", "Saga vs 2PC",
          "The same order under the same failure, run both ways, side by side.",
          Target("twopc", view="compare", label="Compare a saga and 2PC side by side"),
          "Saga vs 2PC: pick a failure and step both runs side by side, with locks, messages and time blocked.",
          SAGA),
    Topic("tracing", "Tracing and monitoring",
          "One trace id across every hop, drawn as a waterfall; the numbers that tell you something is wrong.",
          Target("sagas", preset="message-lost-dead-letter", label="Run: a lost message (see its trace)"),
          "The saga lab with a message lost: one trace id across every hop, timeouts and retries included, drawn "
          "as a waterfall."),
    Topic("choosing-patterns", "Choosing patterns",
          "When each pattern pays for itself, and when it is the wrong tool.",
          Target("twopc", view="matrix", label="Open the failure matrix"),
          "The failure matrix: every fault at every protocol point, for 2PC and for the saga, and how each ends."),
)
BY_SLUG: dict[str, Topic] = {topic.slug: topic for topic in TOPICS}
SLUGS: tuple[str, ...] = tuple(BY_SLUG)


def get(slug: str) -> Topic | None:
    return BY_SLUG.get(slug)


def neighbours(slug: str) -> tuple[Topic | None, Topic | None]:
    """The topics before and after this one in the course."""
    i = SLUGS.index(slug)
    return (TOPICS[i - 1] if i > 0 else None, TOPICS[i + 1] if i + 1 < len(TOPICS) else None)
