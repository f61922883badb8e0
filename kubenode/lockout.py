"""Sign-in lockout (django-axes): repeated failures lock the user name and the address for a while.

Thresholds: auth.lockout_failures and auth.lockout_duration (kubenode.config). Admins unlock in the admin
(Axes → Access attempts: delete the entries of the user or address). Sign-ins without a request (a management
command calling authenticate() itself) are not counted: nobody can try passwords through them remotely.
"""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def locked_out(request, credentials=None, *args, **kwargs):
    """The page a locked-out sign-in gets (HTTP 429), saying for how long."""
    from django.conf import settings
    from django.shortcuts import render

    minutes = max(1, round(settings.CONFIG["auth.lockout_duration"] / 60))
    return render(request, "registration/locked_out.html", {"lockout_minutes": minutes}, status=429)
