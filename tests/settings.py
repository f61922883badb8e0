"""Settings for the test suite: the real settings, resolved from a test environment.

The suite runs on PostgreSQL (``make test`` exports where it is; the defaults are this
machine's). ``KUBENODE_TEST_DB_SUFFIX`` keeps concurrent runs on separate databases.
"""

import os

_DEFAULTS = {
    "DB_TYPE": "postgres",
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "5432",
    "DB_NAME": "postgres",
    "DB_USER": "postgres",
    "SECRET_KEY": "test-secret-key-not-for-production-" + "x" * 20,
    "PROGRESS_NOTIFY_TYPE": "memory",
    "KUBENODE_REPLICA_ID": "test-runner",
}
for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
# The developer's own configuration never leaks into the tests.
os.environ.pop("KUBENODE_CONFIG", None)

from kubenode.settings import *  # noqa: E402,F403
from kubenode.settings import DATABASES  # noqa: E402

_suffix = os.environ.get("KUBENODE_TEST_DB_SUFFIX", "")
DATABASES["default"]["TEST"] = {"NAME": f"test_kubenode{'_' + _suffix if _suffix else ''}"}
# Pooled connections and test-database switching do not mix; the pool is covered by its own test.
DATABASES["default"]["OPTIONS"].pop("pool", None)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
