"""Create the first superuser once.

The password: from --password-file or the environment variable KUBENODE_SUPERUSER_PASSWORD (a Kubernetes Secret),
never printed; otherwise generated and shown once on a terminal, or, when the output is not a terminal (a Job, a
pipe, a log collector), written to a file only this user can read, whose path is printed, never the password.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

PASSWORD_ENV = "KUBENODE_SUPERUSER_PASSWORD"
PASSWORD_FILE = "initial-superuser-password"


def write_private(path: Path, text: str) -> None:
    """Write `text` to a new file readable and writable by this user only (replacing an old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


class Command(BaseCommand):
    help = "Create the first superuser (admin) if there is none; the password is never logged."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", help="read the password from this file (e.g. a mounted Secret)")

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("kubenode: a superuser exists already (password not shown again).")
            return
        given = self._given_password(options["password_file"])
        password = given or secrets.token_urlsafe(16)
        User.objects.create_superuser(options["username"], email="", password=password)
        name = options["username"]
        if given:
            self.stdout.write(self.style.SUCCESS(f"kubenode: created superuser {name!r} with the given password."))
        elif self.stdout.isatty():
            self.stdout.write(self.style.SUCCESS(
                f"kubenode: created superuser {name!r} with password: {password}\n"
                "kubenode: this password is shown only once."))
        else:
            path = Path(settings.DATA_DIR) / PASSWORD_FILE
            write_private(path, password)
            self.stdout.write(f"kubenode: created superuser {name!r}; its generated password is in {path} "
                              "(readable by this user only; read it, then delete the file). It is not printed "
                              "because the output is not a terminal.")

    @staticmethod
    def _given_password(path: str | None) -> str:
        if path:
            try:
                text = Path(path).read_text().strip()
            except OSError as exc:
                raise CommandError(f"--password-file {path}: cannot read it ({exc.strerror or exc})") from None
            if not text:
                raise CommandError(f"--password-file {path} is empty")
            return text
        return os.environ.get(PASSWORD_ENV, "").strip()
