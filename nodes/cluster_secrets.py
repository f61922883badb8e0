"""What a cluster's kubeconfig may hold and where it may show: credentials never leave it.

- `redact_url` / `redact_text`: user-info (`https://user:password@host`) stripped from every URL shown, logged or
  put in an error.
- `exec_plugins`: kubeconfig `exec` credential plugins run a command in the web and worker processes. They are
  refused unless the command is in `clusters.allowed_exec_commands`; an allowed one runs with a timeout
  (`clusters.exec_timeout`), without a shell or a terminal, and its token replaces the `exec` entry.
- `reencrypt_clusters`: every stored kubeconfig encrypted again with the current SECRET_KEY (after a rotation).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def redact_url(url: str) -> str:
    """The URL without user-info (`https://user:pw@host` → `https://host`)."""
    return _USERINFO.sub(r"\1", url or "")


def redact_text(text: str) -> str:
    """Any text (an error, a log line) with the user-info of every URL in it removed."""
    return _USERINFO.sub(r"\1", str(text))


# --- exec credential plugins ------------------------------------------------------------------------------------------

class ExecRefused(ValidationError):
    """The kubeconfig's user runs a command that is not allowed."""


def _named(doc: dict, section: str) -> dict:
    return {item.get("name"): item.get(section.rstrip("s")) or {} for item in doc.get(section) or []
            if isinstance(item, dict)}


def context_user(doc: dict, context: str | None) -> dict:
    """The user entry the context uses ({} when none)."""
    contexts = _named(doc, "contexts")
    ctx = contexts.get(context or doc.get("current-context")) or {}
    user = _named(doc, "users").get(ctx.get("user")) if isinstance(ctx, dict) else None
    return user if isinstance(user, dict) else {}


def exec_command(doc: dict, context: str | None) -> str | None:
    """The command of the context user's exec plugin, or of an auth-provider's cmd-path; None when it has none."""
    user = context_user(doc, context)
    exec_ = user.get("exec")
    if isinstance(exec_, dict):
        return str(exec_.get("command") or "")
    provider = user.get("auth-provider")
    if isinstance(provider, dict) and isinstance(provider.get("config"), dict) and provider["config"].get("cmd-path"):
        return str(provider["config"]["cmd-path"])
    return None


def allowed_commands() -> list[str]:
    return list(settings.CONFIG["clusters.allowed_exec_commands"])


def exec_allowed(command: str) -> bool:
    """On the allow-list by exact text, or by name when the list gives a bare name (the PATH lookup result)."""
    allowed = allowed_commands()
    return bool(command) and (command in allowed or os.path.basename(command) in
                              [a for a in allowed if "/" not in a])


def check_exec(doc: dict, context: str | None) -> str | None:
    """The allowed plugin command of the context, None when there is none; ExecRefused when not allowed."""
    command = exec_command(doc, context)
    if command is None:
        return None
    if not exec_allowed(command):
        raise ExecRefused(
            f"the kubeconfig's user runs the command {command!r} to get credentials (an exec plugin); kubenode "
            "runs such commands only when they are listed in clusters.allowed_exec_commands "
            "(env CLUSTERS_ALLOWED_EXEC_COMMANDS), which does not list it")
    return command


@dataclass
class ExecCredential:
    token: str = ""
    client_certificate_data: str = ""
    client_key_data: str = ""
    expires: datetime | None = None


def run_exec(doc: dict, context: str | None) -> ExecCredential:
    """Run the context user's allowed exec plugin once, with the timeout, and return its credential."""
    user = context_user(doc, context)
    exec_ = user.get("exec") or {}
    command = check_exec(doc, context)
    if command is None or not isinstance(exec_, dict):
        raise ExecRefused("the kubeconfig's user has no exec plugin")
    if user.get("auth-provider"):
        raise ExecRefused("auth-provider plugins with a cmd-path are not supported; use an exec plugin")
    path = command if "/" in command else shutil.which(command)
    if not path:
        raise ExecRefused(f"the exec plugin command {command!r} is not installed")
    env = {**os.environ, **{e["name"]: str(e.get("value", "")) for e in exec_.get("env") or []
                            if isinstance(e, dict) and e.get("name")}}
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": exec_.get("apiVersion") or
                                              "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                                              "spec": {"interactive": False}})
    timeout = float(settings.CONFIG["clusters.exec_timeout"])
    try:
        done = subprocess.run([path, *[str(a) for a in exec_.get("args") or []]], env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, text=True, check=False)
    except subprocess.TimeoutExpired:
        raise ExecRefused(f"the exec plugin {command!r} did not answer within {timeout:g} s "
                          "(clusters.exec_timeout)") from None
    except OSError as exc:
        raise ExecRefused(f"the exec plugin {command!r} cannot run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise ExecRefused(f"the exec plugin {command!r} failed with exit status {done.returncode}")
    try:
        status = json.loads(done.stdout).get("status") or {}
    except (ValueError, AttributeError):
        raise ExecRefused(f"the exec plugin {command!r} did not print an ExecCredential") from None
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError:
            expires = None
    cred = ExecCredential(token=str(status.get("token") or ""),
                          client_certificate_data=str(status.get("clientCertificateData") or ""),
                          client_key_data=str(status.get("clientKeyData") or ""), expires=expires)
    if not cred.token and not (cred.client_certificate_data and cred.client_key_data):
        raise ExecRefused(f"the exec plugin {command!r} gave neither a token nor a client certificate")
    return cred


def with_exec_credential(doc: dict, context: str | None) -> tuple[dict, datetime | None]:
    """The kubeconfig with the context user's exec plugin replaced by the credential it gives now (run here, with
    the timeout), and when that credential expires. Unchanged when the user has no plugin."""
    if check_exec(doc, context) is None:
        return doc, None
    cred = run_exec(doc, context)
    doc = json.loads(json.dumps(doc))
    ctx_name = context or doc.get("current-context")
    user_name = next((c.get("context", {}).get("user") for c in doc.get("contexts") or []
                      if isinstance(c, dict) and c.get("name") == ctx_name), None)
    for item in doc.get("users") or []:
        if isinstance(item, dict) and item.get("name") == user_name:
            user = {k: v for k, v in (item.get("user") or {}).items() if k != "exec"}
            if cred.token:
                user["token"] = cred.token
            else:
                user["client-certificate-data"] = base64.b64encode(cred.client_certificate_data.encode()).decode()
                user["client-key-data"] = base64.b64encode(cred.client_key_data.encode()).decode()
            item["user"] = user
    return doc, cred.expires


def expired(expires: datetime | None) -> bool:
    return expires is not None and datetime.now(UTC) >= expires


# --- key rotation -----------------------------------------------------------------------------------------------------

@dataclass
class Reencrypted:
    changed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def reencrypt_clusters(dry_run: bool = False) -> Reencrypted:
    from . import crypto
    from .models import Cluster

    result = Reencrypted()
    for cluster in Cluster.objects.exclude(kubeconfig_encrypted="").order_by("name"):
        token = cluster.kubeconfig_encrypted or ""
        if not crypto.needs_reencryption(token):
            result.current.append(cluster.name)
            continue
        try:
            new = crypto.reencrypt(token)
        except crypto.DecryptionError:
            result.unreadable.append(cluster.name)
            continue
        result.changed.append(cluster.name)
        if not dry_run:
            Cluster.objects.filter(pk=cluster.pk, kubeconfig_encrypted=token).update(kubeconfig_encrypted=new)
    return result
