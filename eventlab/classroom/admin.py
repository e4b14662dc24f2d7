"""The admin (for superusers): classes and who teaches them. What happens in a class is its lab's log."""

from django.contrib import admin

from .models import Classroom, InstructorToken


@admin.register(Classroom)
class ClassroomAdmin(admin.ModelAdmin):
    list_display = ["name", "shown_code", "created_at"]
    search_fields = ["name", "code"]
    filter_horizontal = ["instructors"]
    readonly_fields = ["lab", "code", "created_at"]


@admin.register(InstructorToken)
class InstructorTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at"]
    readonly_fields = ["user", "token_hash", "created_at"]
