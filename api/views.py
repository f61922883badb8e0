"""The access tokens page: a user creates tokens (the secret shown once), sees and revokes their own."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from . import tokens
from .models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"),
                           help_text=gettext_lazy("what it is for, e.g. ci-pipeline"))
    scope = forms.ChoiceField(choices=[(ApiToken.Scope.READ, pgettext_lazy("token scope", "read")),
                                       (ApiToken.Scope.ACTIONS, pgettext_lazy(
                                           "token scope", "read and the actions of the user's role"))],
                              initial=ApiToken.Scope.READ, widget=forms.RadioSelect, label=gettext_lazy("Scope"),
                              help_text=gettext_lazy("read: lists, details, previews; actions: also what your role "
                                                     "allows (batches, cancel, retry, templates)"))
    days = forms.IntegerField(label=gettext_lazy("Valid for (days)"), min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        longest = int(settings.CONFIG["api.token_max_days"])
        self.fields["days"] = forms.IntegerField(label=gettext_lazy("Valid for (days)"), min_value=1,
                                                 max_value=longest,
                                                 initial=int(settings.CONFIG["api.token_default_days"]),
                                                 help_text=_("1 to %(longest)s") % {"longest": longest})


def token_list(request):
    form = TokenForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                token, secret = tokens.create_token(request.user, form.cleaned_data["name"],
                                                    form.cleaned_data["scope"], form.cleaned_data["days"])
                created = {"token": token, "secret": secret}
                form = TokenForm()
            except ValidationError as exc:
                form.add_error(None, exc)
        if not form.is_valid() and form.is_bound:
            status = 400
    response = render(request, "api/tokens.html", {"form": form, "created": created,
                                                    "tokens": tokens.tokens_of(request.user)}, status=status)
    if created:
        response["Cache-Control"] = "no-store"  # the secret is shown once, never kept by a cache
    return response


@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk)
    try:
        tokens.revoke_token(request.user, token)
    except PermissionDenied:
        raise Http404("no such token") from None
    messages.success(request, _("Token %(name)s revoked: it is refused from now on.") % {"name": token.name})
    return redirect("api:token_list")
