from django.contrib import admin
from django.urls import path

from eventlab.api import api
from eventlab.bank import views as bank
from eventlab.labs import views as labs
from eventlab.learn import views as learn
from eventlab.live import sse
from eventlab.resilience import views as resilience
from eventlab.sagas import views as sagas
from eventlab.twopc import compare_views as compare
from eventlab.twopc import views as twopc

urlpatterns = [
    # The course
    path("", learn.home, name="home"),
    # Learn: a page per topic, quizzes, interview prep, the learner's progress (events in their personal lab)
    path("learn/progress/", learn.progress_page, name="learn-progress"),
    path("learn/interview/", learn.interview_home, name="learn-interview"),
    path("learn/interview/start", learn.interview_start, name="learn-interview-start"),
    path("learn/interview/<str:interview_id>/", learn.interview_set, name="learn-interview-set"),
    path("learn/quiz/<str:slug>/answer", learn.answer, name="learn-answer"),
    path("learn/try", learn.try_it, name="learn-try"),
    path("learn/open/<str:lab>/<str:view>/", learn.open_view, name="learn-open"),
    path("learn/<slug:slug>/", learn.topic_page, name="learn-topic"),
    # Labs: start a new one, join one through its link
    path("labs/new", labs.new_lab, name="lab-new"),
    path("labs/join/<str:code>", labs.join, name="lab-join"),
    path("labs/<str:lab_id>/token", labs.new_token, name="lab-token"),
    # The bank lab
    path("labs/bank/", bank.bank_home, name="bank-home"),
    path("labs/<str:lab_id>/bank/", bank.lab_page, name="bank-lab"),
    path("labs/<str:lab_id>/bank/commands", bank.command, name="bank-command"),
    path("labs/<str:lab_id>/bank/retry", bank.retry, name="bank-retry"),
    path("labs/<str:lab_id>/bank/race", bank.race, name="bank-race"),
    path("labs/<str:lab_id>/bank/events", bank.events_panel, name="bank-events"),
    path("labs/<str:lab_id>/bank/readmodels", bank.statement, name="bank-readmodels"),
    path("labs/<str:lab_id>/bank/readmodels/action", bank.readmodel_action, name="bank-readmodel-action"),
    path("labs/<str:lab_id>/bank/time-travel", bank.time_travel, name="bank-time-travel"),
    path("labs/<str:lab_id>/bank/settings", bank.lab_settings, name="bank-settings"),
    # The saga lab
    path("labs/sagas/", sagas.saga_home, name="saga-home"),
    path("labs/<str:lab_id>/sagas/", sagas.lab_page, name="saga-lab"),
    path("labs/<str:lab_id>/sagas/start", sagas.start, name="saga-start"),
    path("labs/<str:lab_id>/sagas/preset", sagas.start_preset, name="saga-preset"),
    path("labs/<str:lab_id>/sagas/<str:run_id>/", sagas.run_page, name="saga-run"),
    path("labs/<str:lab_id>/sagas/<str:run_id>/act", sagas.act, name="saga-act"),
    # The two-phase commit lab, and Saga vs 2PC side by side (with the failure matrix of both)
    path("labs/twopc/", twopc.twopc_home, name="twopc-home"),
    path("labs/<str:lab_id>/twopc/", twopc.lab_page, name="twopc-lab"),
    path("labs/<str:lab_id>/twopc/start", twopc.start, name="twopc-start"),
    path("labs/<str:lab_id>/twopc/preset", twopc.start_preset, name="twopc-preset"),
    path("labs/<str:lab_id>/twopc/compare/", compare.compare_page, name="twopc-compare"),
    path("labs/<str:lab_id>/twopc/compare/start", compare.start, name="twopc-compare-start"),
    path("labs/<str:lab_id>/twopc/compare/<str:saga_id>/<str:twopc_id>/", compare.pair_page, name="twopc-pair"),
    path("labs/<str:lab_id>/twopc/compare/<str:saga_id>/<str:twopc_id>/act", compare.act, name="twopc-pair-act"),
    path("labs/<str:lab_id>/twopc/matrix/", compare.matrix_page, name="twopc-matrix"),
    path("labs/<str:lab_id>/twopc/matrix/replay", compare.replay, name="twopc-matrix-replay"),
    path("labs/<str:lab_id>/twopc/<str:run_id>/", twopc.run_page, name="twopc-run"),
    path("labs/<str:lab_id>/twopc/<str:run_id>/act", twopc.act, name="twopc-act"),
    # The resilience lab: gateway, discovery, circuit breaker, bulkhead, retry
    path("labs/resilience/", resilience.resilience_home, name="resilience-home"),
    path("labs/<str:lab_id>/resilience/", resilience.lab_page, name="resilience-lab"),
    path("labs/<str:lab_id>/resilience/start", resilience.start, name="resilience-start"),
    path("labs/<str:lab_id>/resilience/preset", resilience.start_preset, name="resilience-preset"),
    path("labs/<str:lab_id>/resilience/<str:run_id>/", resilience.run_page, name="resilience-run"),
    path("labs/<str:lab_id>/resilience/<str:run_id>/act", resilience.act, name="resilience-act"),
    # The raw log as Server-Sent Events, resumable with Last-Event-ID
    path("labs/<str:lab_id>/events/sse", sse.lab_events, name="lab-sse"),
    # JSON API (OpenAPI at /api/openapi.json, docs at /api/docs)
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]
