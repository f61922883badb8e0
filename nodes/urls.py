from django.urls import path

from . import action_views, views

app_name = "nodes"

urlpatterns = [
    path("clusters/", views.cluster_list, name="cluster_list"),
    path("clusters/<slug:cluster>/nodes/", views.node_list, name="node_list"),
    path("clusters/<slug:cluster>/nodes/action/", action_views.node_action, name="node_action"),
    path("clusters/<slug:cluster>/nodes/<str:name>/", views.node_detail, name="node_detail"),
    path("nodes/", views.all_nodes, name="all_nodes"),
    path("audit/", views.audit_log, name="audit_log"),
    path("templates/", action_views.template_list, name="template_list"),
    path("templates/add/", action_views.template_edit, name="template_add"),
    path("templates/<int:pk>/", action_views.template_edit, name="template_edit"),
    path("templates/<int:pk>/delete/", action_views.template_delete, name="template_delete"),
]
