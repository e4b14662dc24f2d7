"""The bank lab's pages, mounted at the site's root by eventlab/urls.py through the lab registry."""

from django.urls import path

from . import views

urlpatterns = [
    # The bank lab
    path("labs/bank/", views.bank_home, name="bank-home"),
    path("labs/<str:lab_id>/bank/", views.lab_page, name="bank-lab"),
    path("labs/<str:lab_id>/bank/commands", views.command, name="bank-command"),
    path("labs/<str:lab_id>/bank/retry", views.retry, name="bank-retry"),
    path("labs/<str:lab_id>/bank/race", views.race, name="bank-race"),
    path("labs/<str:lab_id>/bank/events", views.events_panel, name="bank-events"),
    path("labs/<str:lab_id>/bank/readmodels", views.statement, name="bank-readmodels"),
    path("labs/<str:lab_id>/bank/readmodels/action", views.readmodel_action, name="bank-readmodel-action"),
    path("labs/<str:lab_id>/bank/time-travel", views.time_travel, name="bank-time-travel"),
    path("labs/<str:lab_id>/bank/settings", views.lab_settings, name="bank-settings"),
]
