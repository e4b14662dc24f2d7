from django.contrib import admin

from .models import Answer, Scenario


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["title", "lab", "created_at"]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["scenario", "step", "choice", "correct", "answered_at"]
