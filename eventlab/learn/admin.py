from django.contrib import admin

from .models import Question


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ("slug", "topic", "position", "kind", "prompt")
    list_filter = ("topic", "kind")
    search_fields = ("slug", "prompt", "explanation", "source")
    ordering = ("topic", "position", "slug")
