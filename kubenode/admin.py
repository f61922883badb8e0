"""The users' remembered language and time zone, in the admin (the language is also set by the switcher)."""

from django.contrib import admin

from .models import Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "language", "page_language", "time_zone")
    list_filter = ("language", "page_language")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
