"""The twopc lab's pages, mounted at the site's root by eventlab/urls.py through the lab registry."""

from django.urls import path

from . import compare_views as compare
from . import views

urlpatterns = [
    # The two-phase commit lab, and Saga vs 2PC side by side (with the failure matrix of both)
    path("labs/twopc/", views.twopc_home, name="twopc-home"),
    path("labs/<str:lab_id>/twopc/", views.lab_page, name="twopc-lab"),
    path("labs/<str:lab_id>/twopc/start", views.start, name="twopc-start"),
    path("labs/<str:lab_id>/twopc/preset", views.start_preset, name="twopc-preset"),
    path("labs/<str:lab_id>/twopc/compare/", compare.compare_page, name="twopc-compare"),
    path("labs/<str:lab_id>/twopc/compare/start", compare.start, name="twopc-compare-start"),
    path("labs/<str:lab_id>/twopc/compare/<str:saga_id>/<str:twopc_id>/", compare.pair_page, name="twopc-pair"),
    path("labs/<str:lab_id>/twopc/compare/<str:saga_id>/<str:twopc_id>/act", compare.act, name="twopc-pair-act"),
    path("labs/<str:lab_id>/twopc/matrix/", compare.matrix_page, name="twopc-matrix"),
    path("labs/<str:lab_id>/twopc/matrix/replay", compare.replay, name="twopc-matrix-replay"),
    path("labs/<str:lab_id>/twopc/<str:run_id>/", views.run_page, name="twopc-run"),
    path("labs/<str:lab_id>/twopc/<str:run_id>/act", views.act, name="twopc-act"),
]
