"""The users' remembered language and time zone, in the admin (the language is also set by the switcher)."""

from django.contrib import admin

from .models import Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "language", "page_language", "time_zone")
    list_filter = ("language", "page_language")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


class WordFilter(admin.SimpleListFilter):
    """A filter on a field stored as an English keyword (a batch action, an outcome), its choices in the page's
    language (kubenode.words); the address keeps the stored keyword."""

    field = ""
    word = staticmethod(str)

    @classmethod
    def of(cls, field: str, title, word):
        return type(f"{field.title().replace('_', '')}WordFilter", (cls,), {
            "field": field, "title": title, "parameter_name": field, "word": staticmethod(word)})

    def lookups(self, request, model_admin):
        values = model_admin.get_queryset(request).exclude(**{self.field: ""}).order_by(self.field).values_list(
            self.field, flat=True).distinct()
        return [(v, self.word(v)) for v in values]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


def display_word(field: str, description, word):
    """A changelist column showing an English keyword field in the page's language."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return word(getattr(obj, field))

    return column


class WordFieldsAdmin(admin.ModelAdmin):
    """A model admin whose read-only pages show keyword fields (word_fields: field → column of display_word) in
    the page's language."""

    word_fields: dict[str, str] = {}

    def get_fields(self, request, obj=None):
        return [self.word_fields.get(f, f) for f in super().get_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.word_fields.values()]
