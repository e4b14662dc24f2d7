from django.contrib import admin

from .models import Lab, Scenario


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "kind", "snapshot_every", "created_at"]
    list_filter = ["kind"]
    search_fields = ["id", "title"]
    readonly_fields = ["id", "kind", "join_code", "created_at"]
    exclude = ["token_hash"]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["slug", "title"]
    search_fields = ["slug", "title", "description"]


class PresetAdmin(admin.ModelAdmin):
    """For every simulation lab's presets (each lab registers its own Preset with it)."""

    list_display = ("title", "slug", "position")
    ordering = ("position",)
