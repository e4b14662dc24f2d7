"""A property-based search over saga fault plans: any number of faults of every kind, any delays (well past the
orchestrator's retries), orchestrator crashes at any step, idempotency off, and a person's dead-letter actions at
any step, in both modes and with many seeds. Each plan is run on the pure engine (through SagaRun, the lab's own
inputs) until nothing is in flight, then checked against every promise the course makes for sagas.

The default profile is derandomized and sized for `make test`; `make soak` runs the `soak` profile (many more
examples, random). The counterexamples this search found are kept as plain tests in test_saga_regressions.py.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlab.sagas.domain import FINAL, OPERATOR_ACTIONS
from eventlab.sagas.runs import MESSAGE_TYPES, SagaRun, parse_start
from eventlab.sim.runlog import Invalid

settings.register_profile(
    "saga-ci", max_examples=int(os.environ.get("SAGA_EXAMPLES", "5000")), derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None,
)
settings.register_profile(
    "soak", max_examples=int(os.environ.get("SAGA_EXAMPLES", "100000")), derandomize=False, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("soak" if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else "saga-ci")

ORDER = {"order_id": "o-1", "customer": "Ada", "amount": "12.50", "items": [{"sku": "book", "qty": 1,
                                                                             "price": "12.50"}]}
SERVICES = ("orders", "payments", "inventory")
STEP_BOUND = 600  # a plan that has not gone quiet by then has broken "every saga ends"
DELAYS = (1, 50, 500, 1_900, 2_500, 5_000, 9_000, 12_000, 30_000, 120_000, 600_000)

service = st.sampled_from(SERVICES)
message = st.sampled_from(MESSAGE_TYPES)
nth = st.integers(1, 4)
crash = st.builds(lambda k, r: {"kind": "orchestrator_crash", "after_step": k, "restart_after_ms": r},
                  st.integers(1, 40), st.sampled_from([1_000, 0, 5_000, None]))
fault = st.one_of(
    st.just({"kind": "payment_declined"}),
    st.just({"kind": "shipping_failed"}),
    st.builds(lambda s, n: {"kind": "service_down", "service": s, "steps": n}, service, st.integers(1, 80)),
    st.builds(lambda k, m, n: {"kind": k, "message": m, "nth": n}, st.sampled_from(["drop", "duplicate"]), message,
              nth),
    st.builds(lambda m, n, ms: {"kind": "delay", "message": m, "nth": n, "ms": ms}, message, nth,
              st.one_of(st.sampled_from(DELAYS), st.integers(1, 600_000))),
    crash,
    st.builds(lambda s: {"kind": "idempotency_off", "service": s}, service),
)
# The same fault on several sendings of one message (e.g. every attempt of a command delayed past the retries).
burst = st.builds(
    lambda kind, m, first, count, ms: [{"kind": kind, "message": m, "nth": first + i, **({"ms": ms} if kind == "delay"
                                                                                        else {})}
                                       for i in range(count)],
    st.sampled_from(["drop", "duplicate", "delay"]), message, nth, st.integers(2, 5), st.sampled_from(DELAYS))
# A person acts on an open dead letter `after` steps after it opened (or when the run goes quiet).
action = st.builds(lambda after, what: {"after": after, "action": what}, st.integers(0, 30),
                   st.sampled_from(OPERATOR_ACTIONS))
plans = st.fixed_dictionaries({
    "mode": st.sampled_from(["orchestration", "choreography"]),
    "seed": st.integers(0, 10_000),
    "faults": st.lists(st.one_of(fault.map(lambda f: [f]), burst), max_size=4).map(lambda groups: sum(groups, [])),
    "actions": st.lists(action, max_size=3),
})
# For "a crash changes no outcome": orchestration, one or more crashes, and faults a crash cannot shift.
crash_plans = st.fixed_dictionaries({
    "mode": st.just("orchestration"),
    "seed": st.integers(0, 10_000),
    "faults": st.tuples(
        st.lists(crash, min_size=1, max_size=3),
        st.lists(st.one_of(st.just({"kind": "payment_declined"}), st.just({"kind": "shipping_failed"}),
                           st.builds(lambda s: {"kind": "idempotency_off", "service": s}, service)), max_size=3),
    ).map(lambda parts: parts[0] + parts[1]),
    "actions": st.just([]),
})


def drive(plan):
    """Run a plan until it is quiet: step; a person recovers a crashed orchestrator when nothing else moves, and
    takes each dead-letter action some steps after a dead letter opens (or when the run goes quiet)."""
    mode = plan["mode"]
    faults = [f for f in plan["faults"] if mode == "orchestration" or f["kind"] != "orchestrator_crash"]
    run = SagaRun("search", parse_start({"mode": mode, "seed": plan["seed"], "order": ORDER, "faults": faults}))
    actions = list(plan["actions"])
    acted, opened_at = [], None
    while run.steps < STEP_BOUND:
        open_ = [d for d in run.dead_letters() if d["status"] == "open"]
        if not open_ or run.sim.crashed:
            opened_at = None
        elif opened_at is None:
            opened_at = run.steps
        if actions and open_ and opened_at is not None and (
                run.steps - opened_at >= actions[0]["after"] or not run.sim.pending()):
            what = actions.pop(0)["action"]
            try:
                run.act({"input": what, "dead_letter": open_[0]["id"]})
                acted.append(what)
            except Invalid:  # refused (e.g. Compensate after the pivot): nothing changed
                pass
            opened_at = None
            continue
        if run.sim.pending():
            run.act({"input": "step"})
        elif run.sim.crashed:
            run.act({"input": "recover"})
        else:
            break
    return run, acted


def broken(plan):
    """The promises this plan's run breaks (empty: none)."""
    run, acted = drive(plan)
    faults = plan["faults"]
    live = run.sim.live
    orders, payments, inventory = live["orders"], live["payments"], live["inventory"]
    oid = run.order["order_id"]
    order = orders.orders.get(oid)
    held, shipped = payments.held(oid), inventory.shipments.count(oid)
    idempotent = {s: all(f != {"kind": "idempotency_off", "service": s} for f in faults) for s in SERVICES}
    anyway = "refund_anyway" in acted  # a business decision to refund (and cancel) what has shipped
    state = run.state
    problems = []
    if run.sim.pending():
        problems.append("every saga ends: still busy after the step bound")
    if state not in FINAL:
        place_order_lost = order is None and not payments.charges and not inventory.shipments
        if not (state == "started" and place_order_lost):  # nobody ever heard of the order: nothing to end
            problems.append(f"every saga ends completed, compensated or dead-lettered (it is {state})")
    if order == "cancelled" and held > 0 and state != "dead_lettered":
        problems.append("no payment stays held for a cancelled order")
    if shipped and order == "cancelled" and not anyway:
        problems.append("nothing ships for a cancelled order")
    if shipped and held <= 0 and not anyway:
        problems.append("nothing ships unpaid")
    if idempotent["payments"] and payments.charges.count(oid) > 1:
        problems.append("no duplicate charge with idempotency on")
    if idempotent["inventory"] and shipped > 1:
        problems.append("no duplicate shipment with idempotency on")
    if state == "completed" and not (order == "completed" and held > 0 and shipped):
        problems.append(f"a completed saga is paid, shipped and completed (order {order}, held {held}, "
                        f"shipped {shipped})")
    if state == "compensated" and not (order == "cancelled" and held <= 0 and (not shipped or anyway)):
        problems.append(f"a compensated saga is cancelled, refunded and unshipped (order {order}, held {held}, "
                        f"shipped {shipped})")
    if order == "completed" and state == "compensated":
        problems.append("a completed order is never compensated")
    return problems


def crash_outcomes(plan):
    """A crash changes no outcome: the same plan without its crashes ends in the same state. Compared only where a
    crash cannot shift what the other faults hit (a recovered orchestrator re-sends, and restarts take time, so
    nth-message, step-counted and timed faults and step-timed operator actions could land elsewhere)."""
    crashes = [f for f in plan["faults"] if f["kind"] == "orchestrator_crash"]
    timing = {"drop", "duplicate", "delay", "service_down"}
    if (plan["mode"] != "orchestration" or not crashes or plan["actions"]
            or any(f["kind"] in timing for f in plan["faults"])):
        return []
    with_crash = drive(plan)[0].state
    without = drive({**plan, "faults": [f for f in plan["faults"] if f not in crashes]})[0].state
    return [] if with_crash == without else [f"a crash changes no outcome ({with_crash} vs {without})"]


@PROFILE
@given(plans)
def test_every_fault_plan_keeps_the_saga_promises(plan):
    assert broken(plan) == [], plan


@settings(PROFILE, max_examples=max(PROFILE.max_examples // 6, 50))
@given(crash_plans)
def test_a_crash_changes_no_outcome(plan):
    assert crash_outcomes(plan) == [], plan
