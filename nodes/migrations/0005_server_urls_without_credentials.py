"""Server URLs stored before user-info was stripped at import lose it now (`https://user:pw@host` → `https://host`)."""
import re

from django.db import migrations

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def strip_userinfo(apps, schema_editor):
    Cluster = apps.get_model("nodes", "Cluster")
    for cluster in Cluster.objects.filter(server__contains="@"):
        cleaned = _USERINFO.sub(r"\1", cluster.server)
        if cleaned != cluster.server:
            Cluster.objects.filter(pk=cluster.pk).update(server=cleaned)


class Migration(migrations.Migration):
    dependencies = [("nodes", "0004_audit_time_of_the_operation")]
    operations = [migrations.RunPython(strip_userinfo, migrations.RunPython.noop)]
