from django.contrib import admin
from django.urls import path

from eventlab.api import api
from eventlab.labs import registry
from eventlab.labs import views as labs
from eventlab.learn import views as learn
from eventlab.live import sse
from eventlab.scenarios import urls as scenarios

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
    # Every lab's pages, from the lab registry (filled by each lab's AppConfig.ready(), before Django first
    # imports this URLconf)
    *(pattern for plugin in registry.plugins() for pattern in plugin.urlpatterns),
    # Scenarios: instructors save a lab's inputs with narration, play them back, export and import them
    *scenarios.urlpatterns,
    # The raw log as Server-Sent Events, resumable with Last-Event-ID
    path("labs/<str:lab_id>/events/sse", sse.lab_events, name="lab-sse"),
    # JSON API (OpenAPI at /api/openapi.json, docs at /api/docs)
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]
