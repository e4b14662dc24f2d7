"""The resilience lab's pages, mounted at the site's root by eventlab/urls.py through the lab registry."""

from django.urls import path

from . import views

urlpatterns = [
    # The resilience lab: gateway, discovery, circuit breaker, bulkhead, retry
    path("labs/resilience/", views.resilience_home, name="resilience-home"),
    path("labs/<str:lab_id>/resilience/", views.lab_page, name="resilience-lab"),
    path("labs/<str:lab_id>/resilience/start", views.start, name="resilience-start"),
    path("labs/<str:lab_id>/resilience/preset", views.start_preset, name="resilience-preset"),
    path("labs/<str:lab_id>/resilience/<str:run_id>/", views.run_page, name="resilience-run"),
    path("labs/<str:lab_id>/resilience/<str:run_id>/act", views.act, name="resilience-act"),
]
