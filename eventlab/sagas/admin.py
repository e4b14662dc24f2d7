from django.contrib import admin

from eventlab.labs.admin import PresetAdmin

from .models import Preset

admin.site.register(Preset, PresetAdmin)
