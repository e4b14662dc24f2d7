"""A simulation lab's JSON API, one style for every run lab (the saga, 2PC and resilience labs; API.md, "Sagas",
"Two-phase commit", "Resilience lab"): `run_router` makes the lab's ninja Router with the endpoints they all share,
over the lab's RunService (labs/runs.py):

    POST /api/labs/{lab}/<key>                  start a run (201)
    GET  /api/labs/{lab}/<key>                  the lab's runs, newest first
    GET  /api/labs/{lab}/<key>/{run}            a run now, or as it was after step k (?at_step=k)
    POST /api/labs/{lab}/<key>/{run}/step       one step (optionally picking the message, predicting what it shows)
    POST /api/labs/{lab}/<key>/{run}/run        run on (to the end, or for a budget of virtual time)
    POST /api/labs/{lab}/<key>/{run}/faults     inject more faults
    POST /api/labs/{lab}/<key>/{run}/recover    restart what crashed (the labs whose nodes crash and recover)
    POST /api/labs/{lab}/<key>/{run}/fork       a what-if run from step `at_step` (201)

A lab adds its own endpoints (the saga's dead letters, the resilience lab's settings and instances) to the router it
gets back. Every body follows the one body policy of labs.api.ObjectBody. The OpenAPI components are the lab's own:
each schema the router documents is named with the lab's `name` first (SagaRunOut, TwoPCStepIn, ResilienceForkIn),
so no two labs share one (django-ninja keeps one component per name: a shared name documents every lab with the
shape of the last)."""

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import create_model

from eventlab.sim.protocol import SimulationRun

from .api import Detail, NoFields, ObjectBody, lab_from_request
from .runs import RunService
from .services import store

INPUT_NAMES = {"deliver": "pick"}  # a body's field -> the run's input's name for it, where they differ

SUMMARIES = {
    "start": "Start a run",
    "runs": "The runs in this lab, newest first",
    "run_state": "A run now, or as it was after step k (?at_step=k)",
    "step": "Take one step",
    "run": "Step until nothing is left in flight",
    "faults": "Inject more faults into a run in progress",
    "recover": "Restart what crashed: it rebuilds itself from its own log",
    "fork": "A what-if run: the same start and inputs up to step `at_step`, as a new run",
}


def as_dict(run: SimulationRun) -> dict[str, Any]:
    return run.as_dict()


def given_by(action: str, payload: ObjectBody | None) -> dict[str, Any]:
    """A run's input: the action and every field the body sent, in the run's words (`deliver` is the run's `pick`).
    null for a field whose default is null is the same as not sending it."""
    given: dict[str, Any] = {"input": action}
    if payload is not None:
        for name, field in type(payload).model_fields.items():
            value = getattr(payload, name)
            if name in payload.model_fields_set and (value is not None or field.default is not None):
                given[INPUT_NAMES.get(name, name)] = value
    return given


def run_router(
    *,
    key: str,
    name: str,
    tag: str,
    service: RunService,
    start_in: type[ObjectBody],
    run_out: type[Schema],
    step_in: type[ObjectBody],
    faults_example: list[dict[str, Any]],
    out: Callable[[SimulationRun], dict[str, Any]] = as_dict,
    step_status: str | None = None,
    run_in: type[ObjectBody] = NoFields,
    recover_in: type[ObjectBody] | None = None,
    listed: tuple[str, ...] = (),
    summaries: Mapping[str, str] | None = None,
) -> Router:
    """The router of the lab whose runs are `service`'s, at /api/labs/{lab}/`key`.

    `name` starts every component name; `start_in`, `run_out`, `step_in` (and `run_in`, `recover_in` when given) are
    the lab's schemas, named with it. `out` turns a run into `run_out`'s shape. A step answers `run_out`, or, with
    `step_status` (the run's attribute saying where it stands: "state", "outcome"), what one step delivered. A lab
    with `recover_in` has a recover endpoint. `listed`: what the list of runs shows besides the id, seed, fork and
    start time (names in the start event). `summaries` words an endpoint in the lab's terms."""
    words = {**SUMMARIES, **(summaries or {})}

    ForkIn: Any = create_model(f"{name}ForkIn", __base__=ObjectBody, at_step=(
        Any, Field(..., description="The step the what-if run starts from (0 to the run's `step`).")))
    FaultsIn = create_model(f"{name}FaultsIn", __base__=ObjectBody, faults=(
        Any, Field(..., description="The lab's fault kinds (API.md).", examples=[faults_example])))
    RunListed = create_model(f"{name}RunListed", __base__=Schema, id=(str, ...), seed=(int, ...),
                             forked_from=(str | None, ...), fork_step=(int | None, ...), started_at=(str, ...),
                             **{field: (Any, ...) for field in listed})
    RunsOut = create_model(f"{name}RunsOut", __base__=Schema, runs=(list[RunListed], ...))
    StepOut = step_status and create_model(
        f"{name}StepOut", __base__=Schema, **{step_status: (str, ...)}, step=(int, ...), done=(bool, ...),
        delivered=(dict | None, ...), prediction=(dict | None, ...))
    for schema in (start_in, run_out, step_in, run_in, recover_in):
        if schema not in (None, NoFields) and not schema.__name__.startswith(name):
            raise ValueError(f"{schema.__name__} is a {name} lab component: name it {name}...")

    router = Router(tags=[tag])
    base, one = f"/{{lab_id}}/{key}", f"/{{lab_id}}/{key}/{{run_id}}"
    op = f"eventlab_{key}_api"  # operation ids, unique over every lab
    answers = {200: run_out, 404: Detail, 422: Detail}
    created = {201: run_out, 404: Detail, 422: Detail}

    def act(request: HttpRequest, lab_id: str, run_id: str, given: dict[str, Any]) -> SimulationRun:
        return service.act(lab_from_request(request, lab_id, write=True), run_id, given)

    @router.post(base, response=created, summary=words["start"], operation_id=f"{op}_start")
    def start(request: HttpRequest, lab_id: str, payload: start_in | None = None):
        lab = lab_from_request(request, lab_id, write=True)
        return Status(201, out(service.start(lab, (payload or start_in()).dict())))

    @router.get(base, response={200: RunsOut, 404: Detail}, summary=words["runs"], operation_id=f"{op}_runs")
    def runs(request: HttpRequest, lab_id: str):
        lab = lab_from_request(request, lab_id)
        return {"runs": [{"id": e.data["run_id"], "seed": e.data["seed"], "forked_from": e.data.get("forked_from"),
                          "fork_step": e.data.get("fork_step"), "started_at": e.as_dict()["metadata"]["recorded_at"],
                          **{field: e.data.get(field) for field in listed}}
                         for e in service.log.runs(store, lab.id)]}

    @router.get(one, response=answers, summary=words["run_state"], operation_id=f"{op}_run_state")
    def run_state(request: HttpRequest, lab_id: str, run_id: str, at_step: str | None = None):
        return out(service.load_at(lab_from_request(request, lab_id), run_id, at_step))

    @router.post(f"{one}/step", response={**answers, 200: StepOut or run_out},
                 summary=words["step"], operation_id=f"{op}_step")
    def step(request: HttpRequest, lab_id: str, run_id: str, payload: step_in | None = None):
        given = given_by("step", payload)
        run: Any = act(request, lab_id, run_id, given)  # a run that delivers messages, with `step_status`
        if not step_status:
            return out(run)
        prediction = run.predictions[-1] if given.get("predict") is not None else None
        return {step_status: getattr(run, step_status), "step": run.steps, "done": run.done,
                "delivered": run.step_list()[-1], "prediction": prediction}

    @router.post(f"{one}/run", response=answers, summary=words["run"], operation_id=f"{op}_run")
    def run_on(request: HttpRequest, lab_id: str, run_id: str, payload: run_in | None = None):
        return out(act(request, lab_id, run_id, given_by("run", payload)))

    @router.post(f"{one}/faults", response=answers, summary=words["faults"], operation_id=f"{op}_faults")
    def faults(request: HttpRequest, lab_id: str, run_id: str, payload: FaultsIn):
        return out(act(request, lab_id, run_id, given_by("faults", payload)))

    if recover_in is not None:
        @router.post(f"{one}/recover", response=answers, summary=words["recover"], operation_id=f"{op}_recover")
        def recover(request: HttpRequest, lab_id: str, run_id: str, payload: recover_in | None = None):
            return out(act(request, lab_id, run_id, given_by("recover", payload)))

    @router.post(f"{one}/fork", response=created, summary=words["fork"], operation_id=f"{op}_fork")
    def fork(request: HttpRequest, lab_id: str, run_id: str, payload: ForkIn):
        lab = lab_from_request(request, lab_id, write=True)
        return Status(201, out(service.fork(lab, run_id, payload.at_step)))

    return router
