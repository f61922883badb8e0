from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from kubenode import metrics, views

admin.site.site_header = "kubenode administration"
admin.site.site_title = "kubenode"
admin.site.index_title = "Clusters, nodes, batches and audit"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="nodes:cluster_list", permanent=False), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("nodes.urls")),
    path("progress/", include("progress.urls")),
]
