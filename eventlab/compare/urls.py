"""Saga vs 2PC side by side, and the failure matrix of both, under the 2PC lab's paths (URLs and names kept).

Mounted before the 2PC lab's own URLs (eventlab.compare comes before eventlab.twopc in INSTALLED_APPS), so
`labs/<lab>/twopc/compare/` is not taken for a 2PC run named "compare"."""

from django.urls import path

from . import views

urlpatterns = [
    path("labs/<str:lab_id>/twopc/compare/", views.compare_page, name="twopc-compare"),
    path("labs/<str:lab_id>/twopc/compare/start", views.start, name="twopc-compare-start"),
    path("labs/<str:lab_id>/twopc/compare/<str:saga_id>/<str:twopc_id>/", views.pair_page, name="twopc-pair"),
    path("labs/<str:lab_id>/twopc/compare/<str:saga_id>/<str:twopc_id>/act", views.act, name="twopc-pair-act"),
    path("labs/<str:lab_id>/twopc/matrix/", views.matrix_page, name="twopc-matrix"),
    path("labs/<str:lab_id>/twopc/matrix/replay", views.replay, name="twopc-matrix-replay"),
]
