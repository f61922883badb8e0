from django.urls import path

from . import action_views, views, views_clusters, views_nodes

app_name = "nodes"

urlpatterns = [
    path("clusters/", views_clusters.cluster_list, name="cluster_list"),
    path("clusters/add/", views_clusters.cluster_add, name="cluster_add"),
    path("clusters/<slug:cluster>/check/", views_clusters.cluster_check, name="cluster_check"),
    path("clusters/<slug:cluster>/rename/", views_clusters.cluster_rename, name="cluster_rename"),
    path("clusters/<slug:cluster>/remove/", views_clusters.cluster_remove, name="cluster_remove"),
    path("clusters/<slug:cluster>/nodes/", views_nodes.node_list, name="node_list"),
    path("clusters/<slug:cluster>/nodes/action/", action_views.node_action, name="node_action"),
    path("clusters/<slug:cluster>/nodes/<str:name>/", views_nodes.node_detail, name="node_detail"),
    path("nodes/", views_nodes.all_nodes, name="all_nodes"),
    path("audit/", views.audit_log, name="audit_log"),
    path("templates/", action_views.template_list, name="template_list"),
    path("templates/add/", action_views.template_edit, name="template_add"),
    path("templates/<int:pk>/", action_views.template_edit, name="template_edit"),
    path("templates/<int:pk>/delete/", action_views.template_delete, name="template_delete"),
]
