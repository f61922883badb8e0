"""Encrypt every stored kubeconfig again with the current SECRET_KEY (after a key rotation).

Rotate: put the old key in SECRET_KEY_FALLBACKS and the new one in SECRET_KEY, restart, run this command; then the
old key can be dropped from SECRET_KEY_FALLBACKS. Exit 0 when every kubeconfig is readable with the current key,
1 when some cannot be decrypted with any key (they are named; import those clusters again).
"""

from django.core.management.base import BaseCommand, CommandError

from nodes.cluster_secrets import reencrypt_clusters


class Command(BaseCommand):
    help = "Re-encrypt the stored kubeconfigs with the current SECRET_KEY (old keys in SECRET_KEY_FALLBACKS)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only say which clusters need it")

    def handle(self, *args, **opts):
        result = reencrypt_clusters(dry_run=opts["dry_run"])
        verb = "would re-encrypt" if opts["dry_run"] else "re-encrypted"
        self.stdout.write(f"{verb} {len(result.changed)} cluster(s): {', '.join(result.changed) or '-'}; "
                          f"{len(result.current)} already current")
        if result.unreadable:
            raise CommandError("cannot decrypt with SECRET_KEY or SECRET_KEY_FALLBACKS: "
                               f"{', '.join(result.unreadable)} (import these clusters again)", returncode=1)
