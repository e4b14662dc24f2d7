"""The course: its topics in order, each with a one-line summary and the picture it needs.

Pure Python (no Django): the views, the quiz checks and the tests read it. A topic's text is the template
`templates/learn/topics/<slug>.html`, which fills the blocks of `templates/learn/topic.html`. The course names no lab:
the lab that shows a topic declares it (its "try it" target, `eventlab.labs.registry.TryIt`) when it registers.
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
    diagram: str | None = None  # one of DIAGRAMS, shown on the page with the learner's stage lit

    @property
    def template(self) -> str:
        return f"learn/topics/{self.slug}.html"


TOPICS: tuple[Topic, ...] = (
    Topic("event-sourcing", "Event Sourcing",
          "Commands append immutable events; state is a fold of the log; time travel and an audit log for free.",
          PIPELINE),
    Topic("snapshots-and-versioning", "Snapshots and event versioning",
          "Load fast from a snapshot plus the tail; read old event schemas as new ones (upcasting)."),
    Topic("cqrs", "CQRS and eventual consistency",
          "Commands and queries on separate paths; several read models from one log; a paused one lags.", PIPELINE),
    Topic("api-gateway-and-discovery", "API gateway and service discovery",
          "One entry point that authenticates, limits, routes and aggregates; a registry of healthy instances."),
    Topic("circuit-breaker-bulkhead-retry", "Circuit breaker, bulkhead, retry with backoff",
          "Contain a failing dependency instead of letting it take everything else down."),
    Topic("two-phase-commit", "Two-Phase Commit",
          "Prepare, vote, commit or roll back, and the coordinator crash that leaves everyone blocked in doubt."),
    Topic("sagas", "Sagas: orchestration and choreography",
          "Local transactions with compensations instead of distributed locks.", SAGA),
    Topic("saga-vs-2pc", "Saga vs 2PC",
          "The same order under the same failure, run both ways, side by side.", SAGA),
    Topic("tracing", "Tracing and monitoring",
          "One trace id across every hop, drawn as a waterfall; the numbers that tell you something is wrong."),
    Topic("choosing-patterns", "Choosing patterns",
          "When each pattern pays for itself, and when it is the wrong tool."),
)
BY_SLUG: dict[str, Topic] = {topic.slug: topic for topic in TOPICS}
SLUGS: tuple[str, ...] = tuple(BY_SLUG)


def get(slug: str) -> Topic | None:
    return BY_SLUG.get(slug)


def neighbours(slug: str) -> tuple[Topic | None, Topic | None]:
    """The topics before and after this one in the course."""
    i = SLUGS.index(slug)
    return (TOPICS[i - 1] if i > 0 else None, TOPICS[i + 1] if i + 1 < len(TOPICS) else None)
