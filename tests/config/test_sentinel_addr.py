"""kube-node-manager's design put a Sentinel in `progress.redis.addr`: it is recognised and used, or refused with a
message naming sentinel_addrs; a real redis-server in Sentinel mode on a free port."""

import json

import pytest

from tests.replicas.conftest import manage, wait_for_notifier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_sentinel_at_addr_is_used(redis_sentinel, test_database_env, daphne_replicas):
    addr = f"127.0.0.1:{redis_sentinel}"
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": addr}
    checked = manage("notifier_check", "--json", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert (report["effective"], report["healthy"]) == ("redis", True)
    assert f"progress.redis.addr {addr} is a Redis Sentinel (it monitors: mymaster)" in checked.stderr
    assert "PROGRESS_REDIS_SENTINEL_ADDRS" in checked.stderr and "ZADD" not in checked.stdout + checked.stderr

    replica = daphne_replicas("sentinel-at-addr", **{k: v for k, v in env.items() if k.startswith("PROGRESS_")})
    state = wait_for_notifier(replica, lambda s: s.get("verified"))
    assert (state["effective"], state["fallback"]) == ("redis", False)
    assert "is a Redis Sentinel" in replica.log()


def test_a_sentinel_at_addr_without_the_master_stops_naming_sentinel_addrs(redis_sentinel, test_database_env):
    addr = f"127.0.0.1:{redis_sentinel}"
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": addr,
           "PROGRESS_REDIS_SENTINEL_MASTER_NAME": "kube"}
    checked = manage("notifier_check", env=env)
    assert checked.returncode == 1
    assert (f"SentinelAtAddr: progress.redis.addr {addr} is a Redis Sentinel, not a Redis server, and "
            f"it monitors no master named 'kube' (it monitors: mymaster)") in checked.stdout
    assert "progress.redis.sentinel_addrs (PROGRESS_REDIS_SENTINEL_ADDRS)" in checked.stdout
    assert "ZADD" not in checked.stdout + checked.stderr


def test_a_plain_redis_at_addr_is_used_as_before(throwaway_redis, test_database_env):
    port, _ = throwaway_redis
    env = {**test_database_env, "PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": f"127.0.0.1:{port}"}
    checked = manage("notifier_check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Sentinel" not in checked.stdout + checked.stderr
