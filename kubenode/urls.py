from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from accounts.logout import LogoutView
from accounts.urls import login_context, login_urls
from api.urls import api_urls
from kubenode import metrics, views
from nodes import views_clusters

admin.site.site_header = _("kubenode administration")
admin.site.site_title = "kubenode"
admin.site.index_title = _("Clusters, nodes, batches and audit")

handler400 = "kubenode.views.bad_request"

urlpatterns = [
    path("", views_clusters.overview, name="home"),
    path("favicon.ico", views_clusters.favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(extra_context=login_context()), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("i18n/catalog.js", login_not_required(JavaScriptCatalog.as_view(domain="djangojs")),
         name="javascript_catalog"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("nodes.urls")),
    path("progress/", include("progress.urls")),
    path("api/v1/", include(api_urls[:2], namespace=api_urls[2])),
    path("", include(("api.urls", "api"))),
    *login_urls(),
]
