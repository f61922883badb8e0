from django.urls import path
from django.views.generic import TemplateView

app_name = "nodes"

urlpatterns = [
    path("clusters/", TemplateView.as_view(template_name="base.html"), name="cluster_list"),
]
