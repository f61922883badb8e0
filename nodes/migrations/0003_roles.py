"""Groups viewer / operator / admin with their permissions."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "viewer": ["nodes.view_cluster", "nodes.view_auditentry", "nodes.view_labeltainttemplate",
               "progress.view_progresstask", "progress.view_progressmessage"],
    "operator": ["nodes.operate_nodes", "nodes.add_labeltainttemplate", "nodes.change_labeltainttemplate",
                 "nodes.delete_labeltainttemplate"],
    "admin": ["nodes.drain_nodes", "nodes.add_cluster", "nodes.change_cluster", "nodes.delete_cluster",
              "auth.add_user", "auth.change_user", "auth.view_user"],
}
INHERITS = {"viewer": [], "operator": ["viewer"], "admin": ["viewer", "operator"]}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, parents in INHERITS.items():
        group, _ = Group.objects.get_or_create(name=role)
        codes = [c for r in [role, *parents] for c in ROLES[r]]
        for code in codes:
            app_label, codename = code.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm:
                group.permissions.add(perm)


class Migration(migrations.Migration):
    dependencies = [
        ("nodes", "0002_label_taint_template"),
        ("progress", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
