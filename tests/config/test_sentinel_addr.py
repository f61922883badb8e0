"""kube-node-manager's design put a Sentinel in `progress.redis.addr`: it is recognised and used, or refused with a
message naming sentinel_addrs; a real redis-server in Sentinel mode on a free port."""

import json
import subprocess
import time

import pytest

from tests.fixtures.services import free_port
from tests.replicas.conftest import manage, wait_for_notifier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def sentinel(throwaway_redis, tmp_path):
    """A Redis Sentinel watching a throw-away Redis as master "mymaster"; yields its port."""
    redis_port, _ = throwaway_redis
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {redis_port} 1\n")
    proc = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        out = subprocess.run(["redis-cli", "-p", str(port), "sentinel", "get-master-addr-by-name", "mymaster"],
                             capture_output=True, text=True)
        if out.stdout.split() == ["127.0.0.1", str(redis_port)]:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sentinel did not start: {out.stdout} {out.stderr}")
        time.sleep(0.1)
    yield port
    proc.kill()
    proc.wait(5)


def test_a_sentinel_at_addr_is_used(sentinel, test_database_env, daphne_replicas):
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": f"127.0.0.1:{sentinel}"}
    checked = manage("notifier_check", "--json", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert (report["effective"], report["healthy"]) == ("redis", True)
    assert f"progress.redis.addr 127.0.0.1:{sentinel} is a Redis Sentinel (it monitors: mymaster)" in checked.stderr
    assert "PROGRESS_REDIS_SENTINEL_ADDRS" in checked.stderr and "ZADD" not in checked.stdout + checked.stderr

    replica = daphne_replicas("sentinel-at-addr", **{k: v for k, v in env.items() if k.startswith("PROGRESS_")})
    state = wait_for_notifier(replica, lambda s: s.get("verified"))
    assert (state["effective"], state["fallback"]) == ("redis", False)
    assert "is a Redis Sentinel" in replica.log()


def test_a_sentinel_at_addr_without_the_master_stops_naming_sentinel_addrs(sentinel, test_database_env):
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": f"127.0.0.1:{sentinel}",
           "PROGRESS_REDIS_SENTINEL_MASTER_NAME": "kube"}
    checked = manage("notifier_check", env=env)
    assert checked.returncode == 1
    assert (f"SentinelAtAddr: progress.redis.addr 127.0.0.1:{sentinel} is a Redis Sentinel, not a Redis server, and "
            f"it monitors no master named 'kube' (it monitors: mymaster)") in checked.stdout
    assert "progress.redis.sentinel_addrs (PROGRESS_REDIS_SENTINEL_ADDRS)" in checked.stdout
    assert "ZADD" not in checked.stdout + checked.stderr


def test_a_plain_redis_at_addr_is_used_as_before(throwaway_redis, test_database_env):
    port, _ = throwaway_redis
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": f"127.0.0.1:{port}"}
    checked = manage("notifier_check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Sentinel" not in checked.stdout + checked.stderr
