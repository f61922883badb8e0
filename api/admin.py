"""Access tokens in the admin: admins create a token for a user (its secret shown once), revoke tokens and read
the log of token requests."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import tokens
from .models import ApiToken, TokenRequest


class TokenAddForm(forms.ModelForm):
    days = forms.IntegerField(label=_("Valid for (days)"), min_value=1)

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scope"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"] = forms.IntegerField(label=_("Valid for (days)"), min_value=1,
                                                 max_value=int(settings.CONFIG["api.token_max_days"]),
                                                 initial=int(settings.CONFIG["api.token_default_days"]))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "scope", "prefix", "created_at", "expires_at", "last_used_at", "state")
    list_filter = ("scope", "revoked_at")
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TokenAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "scope", "days"]
        return ["user", "name", "scope", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "name", "scope", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, secret = tokens.create_token(form.cleaned_data["user"], form.cleaned_data["name"],
                                            form.cleaned_data["scope"], form.cleaned_data["days"])
        obj.pk = token.pk
        request._new_token_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_new_token_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        token = ApiToken.objects.get(pk=obj.pk)
        response = TemplateResponse(request, "admin/api/apitoken/created.html", {
            **self.admin_site.each_context(request), "token": token, "secret": secret, "opts": self.model._meta,
            "title": _("Token %(name)s created") % {"name": token.name}})
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset:
            tokens.revoke_token(request.user, token)
        count = queryset.count()
        messages.success(request, ngettext("%(count)s token revoked.", "%(count)s tokens revoked.", count) % {
            "count": count})

    @admin.display(description=_("state"))
    def state(self, obj):
        return STATES.get(obj.state, obj.state)


STATES = {"active": _("active"), "expired": _("expired"), "revoked": _("revoked")}


@admin.register(TokenRequest)
class TokenRequestAdmin(admin.ModelAdmin):
    list_display = ("created_at", "username", "token_name", "method", "path", "status", "task_id")
    list_filter = ("method", "status")
    search_fields = ("username", "token_name", "path")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
