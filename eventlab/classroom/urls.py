"""The classroom's pages, mounted at the site's root by eventlab/urls.py through the lab registry."""

from django.urls import path

from . import views

urlpatterns = [
    # Instructors: log in and out, their classes, an API token
    path("classes/", views.home, name="classroom-home"),
    path("classes/login", views.LoginView.as_view(), name="classroom-login"),
    path("classes/logout", views.logout_view, name="classroom-logout"),
    path("classes/new", views.new_class, name="classroom-new"),
    path("classes/token", views.new_token, name="classroom-token"),
    # Learners: join with a code (or its link, or its QR code), rejoin from another device
    path("classes/join", views.join_code, name="classroom-join-code"),
    path("classes/join/<str:code>", views.join, name="classroom-join"),
    path("classes/rejoin/<str:secret>", views.rejoin, name="classroom-rejoin"),
    # A class: the instructor's page (code, QR code, roster, polls) and the learner's
    path("classes/<str:class_id>/", views.class_page, name="classroom-class"),
    path("classes/<str:class_id>/close", views.close_class, name="classroom-close"),
    path("classes/<str:class_id>/learners/<str:learner_id>/rename", views.rename, name="classroom-rename"),
    path("classes/<str:class_id>/learners/<str:learner_id>/remove", views.remove, name="classroom-remove"),
    path("classes/<str:class_id>/learn", views.learner_page, name="classroom-learner"),
    # Polls (Peer Instruction): open, the instructor's poll screen, rounds, close, reveal; a learner's vote
    path("classes/<str:class_id>/polls/new", views.open_poll, name="classroom-poll-new"),
    path("classes/<str:class_id>/polls/<str:poll_id>/", views.poll_page, name="classroom-poll"),
    path("classes/<str:class_id>/polls/<str:poll_id>/round", views.poll_round, name="classroom-poll-round"),
    path("classes/<str:class_id>/polls/<str:poll_id>/close", views.poll_close, name="classroom-poll-close"),
    path("classes/<str:class_id>/polls/<str:poll_id>/reveal", views.poll_reveal, name="classroom-poll-reveal"),
    path("classes/<str:class_id>/polls/<str:poll_id>/vote", views.vote, name="classroom-vote"),
]
