"""The twopc lab's pages, mounted at the site's root by eventlab/urls.py through the lab registry."""

from django.urls import path

from . import views

urlpatterns = [
    # The two-phase commit lab (Saga vs 2PC and the failure matrix: eventlab.compare)
    path("labs/twopc/", views.twopc_home, name="twopc-home"),
    path("labs/<str:lab_id>/twopc/", views.lab_page, name="twopc-lab"),
    path("labs/<str:lab_id>/twopc/start", views.start, name="twopc-start"),
    path("labs/<str:lab_id>/twopc/preset", views.start_preset, name="twopc-preset"),
    path("labs/<str:lab_id>/twopc/<str:run_id>/", views.run_page, name="twopc-run"),
    path("labs/<str:lab_id>/twopc/<str:run_id>/act", views.act, name="twopc-act"),
]
