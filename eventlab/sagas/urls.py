"""The sagas lab's pages, mounted at the site's root by eventlab/urls.py through the lab registry."""

from django.urls import path

from . import views

urlpatterns = [
    # The saga lab
    path("labs/sagas/", views.saga_home, name="saga-home"),
    path("labs/<str:lab_id>/sagas/", views.lab_page, name="saga-lab"),
    path("labs/<str:lab_id>/sagas/start", views.start, name="saga-start"),
    path("labs/<str:lab_id>/sagas/preset", views.start_preset, name="saga-preset"),
    path("labs/<str:lab_id>/sagas/<str:run_id>/", views.run_page, name="saga-run"),
    path("labs/<str:lab_id>/sagas/<str:run_id>/act", views.act, name="saga-act"),
]
