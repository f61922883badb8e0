"""The progress WebSocket: the Origin is checked as Django's CSRF check does; an open socket loses its identity on
logout, deactivation or a change of role; access is re-checked on every resume; deep or huge frames are protocol
errors."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.test import Client

from progress import ws_security
from tests.progress.helpers import make_task, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def app():
    from kubenode.asgi import application

    return application


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def connect(client: Client | None, origin: str | None, host: str | None = "127.0.0.1:8000",
                  scheme: str = "ws", extra=()):
    headers = list(extra)
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if host is not None:
        headers.append((b"host", host.encode()))
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    comm = WebsocketCommunicator(app(), "/ws/progress/", headers=headers)
    comm.scope["scheme"] = scheme
    connected, code = await comm.connect(timeout=10)
    return comm, connected


@pytest.mark.parametrize("origin, host, scheme, ok", [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8000", "ws", False),  # another port
    ("https://127.0.0.1:8000", "127.0.0.1:8000", "ws", False),  # another scheme
    ("http://localhost:8000", "127.0.0.1:8000", "ws", False),  # another host
    ("https://127.0.0.1", "127.0.0.1", "wss", True),
    ("https://127.0.0.1:443", "127.0.0.1", "wss", True),
    ("http://127.0.0.1", "127.0.0.1", "wss", False),
    ("null", "127.0.0.1:8000", "ws", False),
    (None, "127.0.0.1:8000", "ws", False),
    ("http://evil.example:8000", "evil.example:8000", "ws", False),  # a host not in ALLOWED_HOSTS
])
async def test_origin_is_checked_with_scheme_host_and_port(settings, origin, host, scheme, ok):
    user = await database_sync_to_async(make_user)("ann")
    client = await database_sync_to_async(_login)(user)
    comm, connected = await connect(client, origin, host, scheme)
    assert connected is ok
    if connected:
        await comm.disconnect()


async def test_allowed_hosts_star_does_not_turn_the_origin_check_off(settings):
    settings.ALLOWED_HOSTS = ["*"]
    user = await database_sync_to_async(make_user)("ann")
    client = await database_sync_to_async(_login)(user)
    comm, connected = await connect(client, "http://evil.example", "127.0.0.1:8000")
    assert not connected
    comm, connected = await connect(client, "http://127.0.0.1:9999", "127.0.0.1:8000")
    assert not connected
    comm, connected = await connect(client, "http://127.0.0.1:8000", "127.0.0.1:8000")
    assert connected
    await comm.disconnect()


async def test_trusted_origins_and_the_proxy_header(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.com"]
    settings.ALLOWED_HOSTS = ["kubenode.internal", "127.0.0.1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    user = await database_sync_to_async(make_user)("ann")
    client = await database_sync_to_async(_login)(user)
    comm, connected = await connect(client, "https://console.example.com", "kubenode.internal")
    assert connected
    await comm.disconnect()
    # TLS ends at the proxy: the socket is ws:// here, https for the browser
    comm, connected = await connect(client, "https://kubenode.internal", "kubenode.internal",
                                    extra=[(b"x-forwarded-proto", b"https")])
    assert connected
    await comm.disconnect()
    comm, connected = await connect(client, "https://kubenode.internal", "kubenode.internal")
    assert not connected


async def _snapshot(comm):
    frame = await comm.receive_json_from(timeout=10)
    assert frame["type"] == "snapshot"
    return frame


async def _closed(comm) -> dict:
    """The 'revoked' frame and the close that follows."""
    frame = await comm.receive_json_from(timeout=10)
    assert frame["type"] == "revoked"
    closing = await comm.receive_output(timeout=10)
    assert closing["type"] == "websocket.close" and closing["code"] == ws_security.REVOKED_CODE
    return frame


async def test_logout_closes_the_users_open_sockets():
    user = await database_sync_to_async(make_user)("ann")
    client = await database_sync_to_async(_login)(user)
    comm, connected = await connect(client, "http://127.0.0.1:8000")
    assert connected
    await _snapshot(comm)
    response = await database_sync_to_async(client.post)("/logout/")
    assert response.status_code == 302
    await _closed(comm)


@pytest.mark.parametrize("change", ["deactivate", "demote", "staff", "password"])
async def test_a_change_of_the_account_closes_its_sockets(change):
    user = await database_sync_to_async(make_user)("ann", role="operator")
    client = await database_sync_to_async(_login)(user)
    comm, connected = await connect(client, "http://127.0.0.1:8000")
    assert connected
    await _snapshot(comm)

    def apply():
        if change == "deactivate":
            user.is_active = False
            user.save()
        elif change == "demote":
            user.groups.remove(Group.objects.get(name="operator"))
        elif change == "staff":
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        else:
            user.set_password("another-password-123")
            user.save()

    await database_sync_to_async(apply)()
    await _closed(comm)


async def test_a_change_made_elsewhere_is_noticed_by_the_sweep_and_on_the_next_frame():
    """Another replica changed the user: no message reaches this process; the sweep and the next frame close it."""
    user = await database_sync_to_async(make_user)("ann", role="operator")
    task = await database_sync_to_async(make_task)(user)
    client = await database_sync_to_async(_login)(user)
    comm, _ = await connect(client, "http://127.0.0.1:8000")
    await _snapshot(comm)
    comm2, _ = await connect(client, "http://127.0.0.1:8000")
    await _snapshot(comm2)
    from django.contrib.auth import get_user_model

    # a change written as another process would: no signal here
    await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(is_active=False)
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 0})
    await _closed(comm)
    assert await ws_security.sweep() == 1
    await _closed(comm2)


async def test_resume_rechecks_access_to_the_task():
    ann = await database_sync_to_async(make_user)("ann", staff=True, role="admin")
    bob = await database_sync_to_async(make_user)("bob")
    task = await database_sync_to_async(make_task)(bob)
    client = await database_sync_to_async(_login)(ann)
    comm, _ = await connect(client, "http://127.0.0.1:8000")
    await _snapshot(comm)
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 0})
    assert await comm.receive_nothing(timeout=0.5) or True
    from django.contrib.auth import get_user_model

    # staff status taken away by another process: the resume is refused (and the socket closed)
    await database_sync_to_async(get_user_model().objects.filter(pk=ann.pk).update)(is_staff=False)
    await comm.send_json_to({"type": "resume", "task": str(task.pk), "after_seq": 0})
    frame = await comm.receive_json_from(timeout=10)
    assert frame["type"] == "revoked"


@pytest.mark.parametrize("text", [
    "[" * 5000 + "]" * 5000,
    json.dumps({"type": "resume", "task": "x", "after_seq": 0, "x": [[[[[[[[[[[[1]]]]]]]]]]]]}),
    '{"type": "resume", "pad": "' + "x" * 200_000 + '"}',
    "{" * 100_000,
])
async def test_deep_or_huge_frames_are_protocol_errors_and_the_socket_stays(text, caplog):
    user = await database_sync_to_async(make_user)("ann")
    client = await database_sync_to_async(_login)(user)
    comm, _ = await connect(client, "http://127.0.0.1:8000")
    await _snapshot(comm)
    await comm.send_to(text_data=text)
    frame = await comm.receive_json_from(timeout=10)
    assert frame["type"] == "protocol_error"
    await comm.send_json_to({"type": "resume", "task": "00000000-0000-0000-0000-000000000000", "after_seq": 0})
    assert (await comm.receive_json_from(timeout=10))["error"] == "no such task"
    assert "Traceback" not in caplog.text
    await comm.disconnect()
    await asyncio.sleep(0)
