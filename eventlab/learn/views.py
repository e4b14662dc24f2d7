"""The course: the map, a page per topic, quizzes, interview prep and the learner's progress.

Thin: read the form, grade it (quiz.py), append the progress events (services.py), render. Progress is read back as a
fold of the personal lab's log. Every form posts plainly and answers with a redirect or a page, so nothing needs
JavaScript; htmx requests get the answered question alone, swapped in place. The course map creates nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from eventlab.labs import registry
from eventlab.labs.views import working_lab

from . import progress as events
from . import quiz, services, topics
from .models import Question
from .progress import Progress
from .services import Target
from .topics import DIAGRAMS, SECTIONS, TOPICS

FEW = 4  # quiz questions shown on a topic page (all of them with ?quiz=all)
MAX_FIELD = 64  # longest choice key read from a form
CODE_VIEW_TOPIC = "event-sourcing"  # the page showing the bank's decide/evolve with the last command's branch lit


# --- The course map ----------------------------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    _lab, progress = services.load(request.session)  # reads only: the map creates no lab, working or personal
    counts: dict[str, int] = {}
    for topic in Question.objects.values_list("topic", flat=True):
        counts[topic] = counts.get(topic, 0) + 1
    rows = [{"topic": t, "n": n, "progress": progress.topic(t.slug), "questions": counts.get(t.slug, 0),
             "try_it": services.topic_target(t.slug)} for n, t in enumerate(TOPICS, start=1)]
    unread = next((t for t in TOPICS if t.slug not in progress.read), None)
    return render(request, "learn/home.html", {
        "nav": "course", "rows": rows, "progress": progress, "read": len(progress.read), "total": len(TOPICS),
        "next_topic": unread,
        "last_interview": (progress.interviews_finished or [None])[-1],
    })


# --- A topic page ------------------------------------------------------------------------------------------------------


def topic_or_404(slug: str) -> topics.Topic:
    topic = topics.get(slug)
    if topic is None:
        raise Http404("There is no topic by that name.")
    return topic


@require_GET
def topic_page(request: HttpRequest, slug: str) -> HttpResponse:
    topic = topic_or_404(slug)
    _lab, progress = services.load(request.session)
    if slug not in progress.read:  # opened: read (recorded once; two tabs at once still append it once)
        result = services.record(request.session, [events.page_read(slug)], command_id=f"page-read:{slug}")
        progress = events.fold(result.events, progress) if not result.duplicate else progress
    return render_topic(request, topic, progress)


def render_topic(request: HttpRequest, topic: topics.Topic, progress: Progress, status: int = 200,
                 errors: dict[str, str] | None = None, submitted: dict[str, list[str]] | None = None) -> HttpResponse:
    questions = list(Question.objects.filter(topic=topic.slug))
    show_all = request.GET.get("quiz") == "all"
    shown = questions if show_all else few(questions, progress)
    template = select_template([topic.template, "learn/topic.html"])
    before, after = topics.neighbours(topic.slug)
    context = {
        "nav": "course", "topic": topic, "n": topics.SLUGS.index(topic.slug) + 1, "total": len(TOPICS),
        "sections": SECTIONS, "before": before, "after": after, "progress": progress,
        "topic_progress": progress.topic(topic.slug),
        "try_it": services.topic_target(topic.slug),
        "picture": picture(topic.diagram, progress, request.GET.get("stage")) if topic.diagram else None,
        "questions": [question_view(q, progress, errors or {}, submitted or {}) for q in shown],
        "question_count": len(questions), "show_all": show_all,
        "code": services.code_view(request.session) if topic.slug == CODE_VIEW_TOPIC else None,
    }
    return HttpResponse(template.render(context, request), status=status)


def few(questions: list[Question], progress: Progress) -> list[Question]:
    """A few of the topic's questions: one of each kind first, then by position; answered ones stay on the page."""
    chosen: list[Question] = []
    for kind in quiz.KINDS:
        first = next((q for q in questions if q.kind == kind), None)
        if first is not None:
            chosen.append(first)
    for question in questions:
        if len(chosen) >= FEW:
            break
        if question not in chosen:
            chosen.append(question)
    chosen += [q for q in questions if q not in chosen and q.slug in progress.latest]
    return sorted(chosen, key=lambda q: (q.position, q.slug))


def picture(diagram: str, progress: Progress, asked: str | None) -> dict[str, Any]:
    """One of the course's two pictures, with the learner's stage lit (or the stage asked for with ?stage=)."""
    stages = DIAGRAMS[diagram]
    ids = [s for s, _, _ in stages]
    labs = services.try_it_labs()
    current = events.current_stage(diagram, progress, labs)
    lit = asked if asked in ids else current
    done = ids.index(current)
    return {
        "kind": diagram, "lit": lit, "current": current, "asked": asked in ids,
        "stages": [{"id": s, "name": name, "says": says, "lit": s == lit, "done": i < done}
                   for i, (s, name, says) in enumerate(stages)],
        "lit_stage": next(st for st in stages if st[0] == lit),
        "milestones": events.milestones(diagram, progress, labs),
    }


def question_view(question: Question, progress: Progress, errors: dict[str, str],
                  submitted: dict[str, list[str]], answer: events.Answer | quiz.Verdict | None = None,
                  prefix: str = "", interview: bool = False) -> dict[str, Any]:
    """What the question template needs: the question, the learner's last answer and its verdict, any error."""
    last = answer if answer is not None else (None if interview else progress.latest.get(question.slug))
    given = submitted.get(question.slug) or (list(last.given) if last is not None else [])
    text = question.choice_text
    view: dict[str, Any] = {
        "q": question, "prefix": prefix, "kind_name": quiz.KIND_NAMES.get(question.kind, question.kind),
        "error": errors.get(question.slug, ""), "given": given, "answered": last is not None,
        "positions": range(1, len(question.choices) + 1), "interview": interview,
        "topic": topics.get(question.topic), "lab_target": predict_target(question),
        "anchor_title": dict(SECTIONS).get(question.anchor, question.anchor),
        "locked": interview and last is not None,
    }
    if question.kind == "order":
        view["placed"] = {i + 1: key for i, key in enumerate(given)}
    if last is not None:
        view.update({
            "correct": last.correct, "wrong_choices": list(last.wrong_choices),
            "missed_choices": list(last.missed_choices), "misplaced": list(last.misplaced),
            "right_texts": [text.get(k, k) for k in question.answer],
            "given_texts": [text.get(k, k) for k in last.given],
        })
    return view


def predict_target(question: Question) -> Target | None:
    lab = question.lab if isinstance(question.lab, dict) else {}
    if not lab.get("lab") or not lab.get("preset"):
        return None
    try:
        return services.scenario_target(lab["lab"], lab["preset"])
    except ValueError:
        return None


# --- Answering a question ----------------------------------------------------------------------------------------------


def submission(question: Question, post: QueryDict, prefix: str = "") -> list[str]:
    """The choice keys a form gave: the chosen ones, or for an order question one per position, in order."""
    if question.kind == "order":
        placed = [post.get(f"{prefix}pos-{i}", "")[:MAX_FIELD] for i in range(1, len(question.choices) + 1)]
        return [key for key in placed if key]
    return [key[:MAX_FIELD] for key in post.getlist(f"{prefix}answer")[:quiz.MAX_CHOICES + 1]]


@require_POST
def answer(request: HttpRequest, slug: str) -> HttpResponse:
    question = Question.objects.filter(pk=slug[:64]).first()
    if question is None:
        return plain(request, 404, "No such question", "There is no question by that name. Nothing was recorded.")
    topic = topic_or_404(question.topic)
    given = submission(question, request.POST)
    try:
        verdict = quiz.grade(question, given)
    except quiz.Malformed as malformed:  # nothing is recorded
        _lab, progress = services.load(request.session)
        message = f"{malformed} Nothing was recorded."
        if request.htmx:
            view = question_view(question, progress, {question.slug: message}, {question.slug: given})
            return render(request, "learn/_question.html", {"v": view}, status=422)
        return render_topic(request, topic, progress, status=422, errors={question.slug: message},
                            submitted={question.slug: given})
    services.record(request.session, [events.quiz_answered(question.slug, question.topic, verdict)])
    if request.htmx:
        view = question_view(question, Progress(), {}, {}, answer=verdict)
        return render(request, "learn/_question.html", {"v": view, "just_answered": True})
    return redirect(reverse("learn-topic", args=[topic.slug]) + f"?answered={question.slug}#q-{question.slug}")


def plain(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    """A clear error in plain words (an htmx request gets the message alone, to show in place)."""
    if request.htmx:
        return render(request, "learn/_error.html", {"title": title, "message": message}, status=status)
    return render(request, "learn/error.html", {"nav": "course", "title": title, "message": message}, status=status)


# --- Try it: open the right lab, already set up ----------------------------------------------------------------------


@require_POST
def try_it(request: HttpRequest) -> HttpResponse:
    """Start a topic's preset (or a predict question's scenario, or a comparison table row's) in the session's working
    lab and go to the run, or go to the lab view that shows the idea. Recorded as LabTried once the lab opened."""
    post = request.POST
    topic_slug, question_slug = post.get("topic", "")[:64], post.get("question", "")[:64]
    try:
        if question_slug:
            question = Question.objects.filter(pk=question_slug).first()
            target = predict_target(question) if question is not None else None
            if target is None:
                return plain(request, 404, "No such scenario", "That question has no lab scenario.")
            topic_slug = question.topic
        elif post.get("lab"):
            target = Target(post["lab"][:20], preset=post.get("preset", "")[:64], view=post.get("view", "")[:20])
        else:
            target = services.topic_target(topic_or_404(topic_slug).slug)
            if target is None:
                return plain(request, 404, "Nothing to open", "No lab shows this topic yet.")
    except ValueError:
        return plain(request, 422, "Nothing to open", "Name a lab and one of its presets or views.")
    if topic_slug and topics.get(topic_slug) is None:
        topic_slug = ""
    lab = working_lab(request)
    if target.preset:
        response = registry.get(target.lab).run_pages.open_preset(request, lab, target.preset)
    else:
        url_name, fragment = target.url
        response = redirect(reverse(url_name, args=[lab.id]) + (f"#{fragment}" if fragment else ""))
    if response.status_code in (301, 302, 303):
        services.record(request.session, [events.lab_tried(target.lab, topic=topic_slug, preset=target.preset,
                                                           view=target.view, question=question_slug)])
    return response


@require_GET
def open_view(request: HttpRequest, lab: str, view: str) -> HttpResponse:
    """A link to a view of the session's working lab (the comparison tables' rows use it): go there."""
    plugin = registry.find(lab[:40])
    if plugin is None or view not in plugin.views:
        raise Http404("There is no such lab view.")
    url_name, fragment = plugin.views[view]
    return redirect(reverse(url_name, args=[working_lab(request).id]) + (f"#{fragment}" if fragment else ""))


# --- Interview prep ----------------------------------------------------------------------------------------------------


@require_GET
def interview_home(request: HttpRequest) -> HttpResponse:
    _lab, progress = services.load(request.session)
    open_sets = [i for i in progress.interviews.values() if not i.finished]
    return render(request, "learn/interview.html", {
        "nav": "course", "progress": progress, "finished": list(reversed(progress.interviews_finished)),
        "open_set": open_sets[-1] if open_sets else None, "size": events.INTERVIEW_SIZE,
        "minutes": events.INTERVIEW_SIZE * events.SECONDS_PER_QUESTION // 60,
        "question_count": Question.objects.count(),
    })


@require_POST
def interview_start(request: HttpRequest) -> HttpResponse:
    by_topic: dict[str, list[str]] = {}
    for slug, topic in Question.objects.values_list("slug", "topic"):
        by_topic.setdefault(topic, []).append(slug)
    if not by_topic:
        return plain(request, 409, "No questions yet", "There are no quiz questions loaded, so there is nothing to "
                     "ask. Load them with `manage.py loaddata quiz_questions`.")
    interview_id = secrets.token_hex(6)
    picked = events.pick_interview(by_topic, interview_id)
    services.record(request.session, [events.interview_started(interview_id, picked)])
    return redirect("learn-interview-set", interview_id=interview_id)


def interview_context(request: HttpRequest, interview_id: str, progress: Progress) -> dict[str, Any]:
    interview = progress.interviews.get(interview_id)
    if interview is None:
        raise Http404("There is no interview set by that name in this session.")
    questions = Question.objects.in_bulk(interview.questions)
    missing = [slug for slug in interview.questions if slug not in questions]
    return {"nav": "course", "interview": interview, "missing": missing,
            "ordered": [questions[slug] for slug in interview.questions if slug in questions],
            "suggested": len(interview.questions) * events.SECONDS_PER_QUESTION,
            "started": interview.started_at}


@require_http_methods(["GET", "POST"])
def interview_set(request: HttpRequest, interview_id: str) -> HttpResponse:
    _lab, progress = services.load(request.session)
    context = interview_context(request, interview_id[:32], progress)
    interview = context["interview"]
    if request.method == "POST":
        if interview.finished:
            return plain(request, 409, "Already finished", "This interview set is finished; start a new one. "
                         "Nothing was recorded.")
        return interview_submit(request, context, progress)
    return render_interview(request, context, progress)


def render_interview(request: HttpRequest, context: dict[str, Any], progress: Progress, status: int = 200,
                     errors: dict[str, str] | None = None, submitted: dict[str, list[str]] | None = None,
                     ) -> HttpResponse:
    interview = context["interview"]
    views = []
    for n, question in enumerate(context["ordered"], start=1):
        given = interview.answers.get(question.slug) if interview.finished else None
        view = question_view(question, progress, errors or {}, submitted or {}, answer=given,
                             prefix=f"{question.slug}-", interview=True)
        view["n"] = n
        views.append(view)
    weak = [topics.get(slug) for slug in interview.weak if topics.get(slug)]
    return render(request, "learn/interview_set.html", {**context, "questions": views, "weak": weak,
                                                        "elapsed": elapsed(interview.started_at)}, status=status)


def elapsed(since: datetime) -> int:
    return max(0, int((datetime.now(UTC) - since).total_seconds()))


def interview_submit(request: HttpRequest, context: dict[str, Any], progress: Progress) -> HttpResponse:
    """Grade the whole set: a question left blank counts as skipped (wrong); a malformed answer records nothing."""
    interview = context["interview"]
    verdicts: list[tuple[Question, quiz.Verdict]] = []
    errors: dict[str, str] = {}
    submitted: dict[str, list[str]] = {}
    for question in context["ordered"]:
        given = submission(question, request.POST, prefix=f"{question.slug}-")
        submitted[question.slug] = given
        if not given:
            verdicts.append((question, quiz.Verdict(False, (), tuple(question.answer))))
            continue
        try:
            verdicts.append((question, quiz.grade(question, given)))
        except quiz.Malformed as malformed:
            errors[question.slug] = f"{malformed} Nothing was recorded."
    if errors:
        return render_interview(request, context, progress, status=422, errors=errors, submitted=submitted)
    score = sum(v.correct for _, v in verdicts)
    weak = events.weak_topics((q.topic, v.correct) for q, v in verdicts)
    recorded = [events.quiz_answered(q.slug, q.topic, v, interview=interview.id) for q, v in verdicts]
    recorded.append(events.interview_finished(interview.id, score, len(verdicts), weak, elapsed(interview.started_at)))
    services.record(request.session, recorded, command_id=f"interview:{interview.id}")
    return redirect(reverse("learn-interview-set", args=[interview.id]) + "#score")


# --- Progress ----------------------------------------------------------------------------------------------------------


@require_GET
def progress_page(request: HttpRequest) -> HttpResponse:
    lab, progress = services.load(request.session)  # reads only: no lab is made just to show "nothing yet"
    questions = Question.objects.in_bulk([a.question for a in progress.answers])
    rows = [{"topic": t, "progress": progress.topic(t.slug)} for t in TOPICS]
    return render(request, "learn/progress.html", {
        "nav": "course", "lab": lab, "progress": progress, "rows": rows,
        "answers": [{"a": a, "q": questions.get(a.question), "topic": topics.get(a.topic)}
                    for a in reversed(progress.answers)],
        "labs_tried": [{"entry": e, "topic": topics.get(e["topic"]), "lab_title": services.lab_title(e["lab"])}
                       for e in reversed(progress.labs)],
        "labs_completed": [{"entry": e, "lab_title": services.lab_title(e["lab"])}
                           for e in reversed(progress.completed)],
        "days": progress.over_time(), "chart": chart(progress.answers),
        "read": [(topics.get(slug), at) for slug, at in progress.read.items() if topics.get(slug)],
        "interviews": list(reversed(progress.interviews_finished)),
    })


def chart(answers: Iterable[events.Answer], width: int = 560, height: int = 150) -> dict[str, Any] | None:
    """The share of answers right so far, after each answer: a line from the first answer to the last."""
    answers = list(answers)
    if not answers:
        return None
    pad = 36
    right = 0
    points = []
    n = max(len(answers), 2)
    for i, a in enumerate(answers):
        right += a.correct
        x = round(pad + i * (width - 2 * pad) / (n - 1), 1)
        y = round(height - pad - (right / (i + 1)) * (height - 2 * pad), 1)
        points.append(f"{'M' if not points else 'L'}{x},{y}")
    last_share = round(100 * right / len(answers))
    return {"width": width, "height": height, "pad": pad, "path": " ".join(points), "base": height - pad,
            "right": width - pad, "top": pad, "share": last_share, "answers": len(answers), "correct": right}

