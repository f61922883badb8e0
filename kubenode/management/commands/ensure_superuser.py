"""Create the first superuser once, with a generated password printed once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first superuser (admin) with a generated password, if there is none."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("kubenode: a superuser exists already (password not shown again).")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(options["username"], email="", password=password)
        self.stdout.write(self.style.SUCCESS(
            f"kubenode: created superuser {options['username']!r} with password: {password}\n"
            "kubenode: this password is shown only once."))
