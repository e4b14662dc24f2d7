from django.urls import path

from . import views

urlpatterns = [
    # Instructors: the list (and the import form), save from a lab, the editor
    path("scenarios/", views.scenario_list, name="scenario-list"),
    path("scenarios/save", views.save, name="scenario-save"),
    path("scenarios/import", views.import_form, name="scenario-import"),
    path("scenarios/<int:scenario_id>/edit", views.edit, name="scenario-edit"),
    # The player (its step view is templates/scenarios/_step.html)
    path("scenarios/<int:scenario_id>/", views.play_page, name="scenario-play"),
    path("scenarios/<int:scenario_id>/play", views.play, name="scenario-play-action"),
]
