from django.urls import path

from . import views

app_name = "progress"

urlpatterns = [
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/<uuid:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>.json", views.task_json, name="task_json"),
    path("tasks/<uuid:task_id>/cancel/", views.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/retry/", views.task_retry, name="task_retry"),
]
