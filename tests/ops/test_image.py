"""The container image, built and run: a Debian bookworm base made with mmdebstrap, the Dockerfile built with
buildah (scripts/image.sh), then the image's own entrypoint run with `buildah run` on the host network as uid
10001, against this machine's PostgreSQL: migrate, serve (probes answered), worker (a batch done against a
simulator started from the checkout), listen; SIGTERM ends each with exit 0. The image has no simulator, tests or
benchmarks in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.services import free_port
from tests.ops.conftest import get_json, wait_for

# the first build of a checkout compiles python-ldap in the venv stage (minutes); later ones reuse its layers
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE_SH = ROOT / "scripts" / "image.sh"
APP_UID = "10001"


def buildah(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(IMAGE_SH), "buildah", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"buildah {' '.join(args)}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="session")
def image() -> str:
    """The image of this checkout: built when missing (the cached base too); a failed build fails the test."""
    done = subprocess.run([str(IMAGE_SH), "build"], capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, f"scripts/image.sh build failed:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def container(image):
    """Factory: a working container of the image (removed afterwards)."""
    made = []

    def make() -> str:
        name = buildah("from", "--pull=never", image).stdout.strip().splitlines()[-1]
        made.append(name)
        return name

    yield make
    for name in made:
        buildah("rm", name, check=False)


def image_env(test_database_env: dict, **extra) -> dict:
    return {**test_database_env, "DB_HOST": "127.0.0.1", "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PROGRESS_NOTIFY_TYPE": "postgres", "LOG_FORMAT": "text", **extra}


def run_argv(name: str, env: dict, *command: str) -> list[str]:
    argv = [str(IMAGE_SH), "buildah", "run", "--isolation", "chroot", "--network", "host", "--user",
            f"{APP_UID}:{APP_UID}"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    return [*argv, name, "--", "/app/scripts/entrypoint.sh", *command]


class Running:
    """`buildah run` of the entrypoint in the background; stop() sends SIGTERM to the container's process, as a
    kubelet does, and returns the exit status buildah reports."""

    def __init__(self, argv: list[str], log: Path):
        self.log_path = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def app_process(self) -> int:
        """The entrypoint's process inside the container: the first descendant that is not buildah itself."""
        todo = [self.process.pid]
        while todo:
            pid = todo.pop(0)
            for child in _children(pid):
                comm = _comm(child)
                if comm and comm != "buildah" and not comm.startswith("memfd:buildah"):
                    return child
                todo.append(child)
        raise AssertionError(f"no application process under buildah run:\n{self.log()[-2000:]}")

    def uid(self) -> str:
        for line in Path(f"/proc/{self.app_process()}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return line.split()[1]
        raise AssertionError("no Uid line")

    def terminate(self, timeout: float = 60) -> int:
        os.kill(self.app_process(), signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """After a failure: the container's process first (buildah does not take it along), then buildah."""
        if self.process.poll() is None:
            try:
                os.kill(self.app_process(), signal.SIGKILL)
            except (AssertionError, OSError):
                pass
            self.process.kill()
            self.process.wait(10)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_the_image_holds_the_application_and_nothing_else(container):
    name = container()
    listing = buildah("run", "--isolation", "chroot", name, "--", "ls", "-A", "/app").stdout.split()
    assert set(listing) == {"manage.py", "requirements.txt", "requirements-logins.txt",
                            "kubenode", "nodes", "progress", "api", "accounts",
                            "templates", "static", "locale", "scripts", "var"}
    assert buildah("run", "--isolation", "chroot", name, "--", "ls", "/app/scripts").stdout.split() == \
        ["entrypoint.sh"]
    catalogues = buildah("run", "--isolation", "chroot", name, "--", "ls", "/app/locale/zh_Hans/LC_MESSAGES").stdout
    assert sorted(catalogues.split()) == ["django.mo", "django.po", "djangojs.mo", "djangojs.po"]  # compiled there
    probe = ("import importlib.util, sys; "
             "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))")
    found = json.loads(buildah("run", "--isolation", "chroot", "--user", f"{APP_UID}:{APP_UID}", name, "--",
                               "/opt/venv/bin/python", "-c", "import json; " + probe, "kubesim", "tests", "bench",
                               "pytest", "playwright", "django", "daphne", "kubenode", "ldap",
                               "django_auth_ldap").stdout)
    assert found == {"kubesim": False, "tests": False, "bench": False, "pytest": False, "playwright": False,
                     "django": True, "daphne": True, "kubenode": True, "ldap": True, "django_auth_ldap": True}
    # python-ldap was compiled in the build stage: no compiler or headers came along, its libraries did
    tools = buildah("run", "--isolation", "chroot", name, "--", "sh", "-c",
                    "command -v gcc cc || true; ls /usr/include/ldap.h 2>/dev/null || true").stdout
    assert tools.strip() == ""
    config = json.loads(buildah("inspect", "--type", "container", name).stdout)["OCIv1"]["config"]
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Entrypoint"] == ["/app/scripts/entrypoint.sh"] and config["Cmd"] == ["serve"]


def test_migrate_then_serve_answers_probes_and_stops_on_sigterm(container, test_database_env, tmp_path):
    env = image_env(test_database_env)
    name = container()
    migrate = subprocess.run(run_argv(name, env, "migrate"), capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "No migrations to apply" in migrate.stdout and "superuser" in migrate.stdout

    port = free_port()
    server = Running(run_argv(name, {**env, "PORT": str(port), "BIND": "127.0.0.1",
                                     "KUBENODE_REPLICA_ID": "image-web"}, "serve"), tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/healthz"), "serve to answer /healthz", timeout=90)
        assert server.uid() == APP_UID
        status, body = get_json(f"{url}/readyz")
        assert status == 200 and body["checks"]["database"] == {"ok": True}, body
        wait_for(lambda: get_json(f"{url}/readyz")[1]["notifier"].get("verified"), "a verified listener", 60)
        assert server.terminate() == 0, server.log()[-3000:]
    finally:
        server.kill()
    assert "shutdown: done" in server.log()


def test_worker_completes_a_batch_and_stops_on_sigterm(container, test_database_env, kube_sim, tmp_path):
    from django.contrib.auth import get_user_model

    from nodes.batches import start_batch
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster
    from progress.models import ProgressTask
    from tests.progress.helpers import make_user

    ensure_groups()
    sim = kube_sim(nodes=30, latency_ms=2, seed=5)  # the simulator runs from the checkout, never from the image
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    user = make_user("imageop", role="operator")
    task = start_batch(get_user_model().objects.get(pk=user.pk), cluster, "label",
                       {"set": {"from": "image"}, "remove": []}, all_nodes=True)
    name = container()
    worker = Running(run_argv(name, image_env(test_database_env, KUBENODE_REPLICA_ID="image-worker",
                                              WORKER_HEALTH_PORT=str(free_port())), "worker"),
                     tmp_path / "worker.log")
    try:
        wait_for(lambda: ProgressTask.objects.get(pk=task.pk).is_finished, "the batch to finish", timeout=120)
        done = ProgressTask.objects.get(pk=task.pk)
        assert (done.status, done.done, done.succeeded) == ("succeeded", 30, 30), worker.log()[-3000:]
        assert done.owner == "image-worker"
        assert worker.terminate() == 0, worker.log()[-3000:]
    finally:
        worker.kill()


def test_standalone_listener_runs_from_the_image(container, test_database_env, throwaway_redis, tmp_path):
    redis_port, _ = throwaway_redis
    port = free_port()
    env = image_env(test_database_env, PROGRESS_LISTENER="standalone", PROGRESS_REDIS_ADDR=f"127.0.0.1:{redis_port}",
                    PROGRESS_LISTENER_HEALTH_PORT=str(port), KUBENODE_REPLICA_ID="image-listener")
    listener = Running(run_argv(container(), env, "listen"), tmp_path / "listen.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/readyz") and get_json(f"{url}/readyz")[1]["status"] == "ok",
                 "the listener to be ready", timeout=90)
        assert get_json(f"{url}/readyz")[1]["listener"]["effective"] == "postgres"
        assert listener.terminate() == 0, listener.log()[-3000:]
    finally:
        listener.kill()
    assert "progress_listen: stopped (postgres -> postgres)" in listener.log()


def _answers(url: str) -> bool:
    try:
        return get_json(url)[0] in (200, 503)
    except OSError:
        return False
    except ValueError:
        return False


def test_ldap_logins_enabled_pass_the_start_up_checks_in_the_image(container, test_database_env):
    """LDAP_ENABLED in the image: python-ldap imports (its C module against libldap), the settings build the LDAP
    backend, Django's checks pass. Without python-ldap this stops with the "needs django-auth-ldap" message."""
    env = image_env(test_database_env, LDAP_ENABLED="true", AUTH_LDAP_SERVER_URI="ldap://127.0.0.1:1",
                    AUTH_LDAP_USER_SEARCH_BASE="ou=people,dc=example,dc=org")
    done = subprocess.run(run_argv(container(), env, "manage", "shell", "-c",
                                   "from django.conf import settings; import ldap; "
                                   "print(settings.AUTHENTICATION_BACKENDS[-1], ldap.OPT_X_TLS_REQUIRE_CERT > 0); "
                                   "from django.core.management import call_command; call_command('check')"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accounts.ldap_backend.LDAPRoleBackend True" in done.stdout, done.stdout
    assert "System check identified no issues" in done.stdout + done.stderr, done.stdout + done.stderr


def test_a_wrong_command_in_the_image_is_refused(container, test_database_env):
    done = subprocess.run(run_argv(container(), image_env(test_database_env), "bogus"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0 and "usage: entrypoint.sh" in done.stderr
