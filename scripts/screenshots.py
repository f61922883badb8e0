"""`make screenshots`: docs/screenshots/*.png from the demo cluster, taken by Debian's chromium.

Starts what `make run` starts — a simulated 150-node "demo" cluster, kubenode on its embedded default (SQLite in a
throw-away directory, the in-process notifier and worker) served by daphne — then walks the console as an operator
would: overview, node list (also at 390 px), a label preview, a drain plan, the live progress dialog, the task detail
and a node's detail page — in English (NAME.png) and in Simplified Chinese (NAME.zh-CN.png, a browser asking for
Chinese, in Shanghai's time zone). Everything it started is stopped at the end.

    python scripts/screenshots.py [--out docs/screenshots] [--language en|zh-hans|all]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not listen on {port} within {timeout}s")


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr[-800:]}")
    return done.stdout


# What the walk clicks and types, in each language's words; the browser's locale and time zone; the file suffix
LANGUAGES = {
    "en": {"locale": "en-US", "timezone": "UTC", "suffix": "", "Username": "Username", "Password": "Password",
           "log in": re.compile("log in", re.I), "select page": "Select every node on this page", "Action": "Action",
           "Labels to set": "Labels to set", "Preview": re.compile("^Preview"),
           "Concurrency": re.compile("^Concurrency"),
           "Run label": re.compile("^Run label"), "Drain options": "Drain options",
           "options": ("delete emptyDir data", "force (unmanaged pods)"), "Reason": "Reason",
           "ended": "complete|fail|cancel", "reason": "kernel upgrade"},
    "zh-hans": {"locale": "zh-CN", "timezone": "Asia/Shanghai", "suffix": ".zh-CN", "Username": "用户名",
                "Password": "密码", "log in": "登录", "select page": "选择本页所有节点", "Action": "操作",
                "Labels to set": "要设置的标签", "Preview": re.compile("^预览"), "Concurrency": re.compile("^并发数"),
                "Run label": re.compile("执行打标签$"), "Drain options": "腾空选项",
                "options": ("删除 emptyDir 数据", "强制（无控制器管理的 Pod）"), "Reason": "原因",
                "ended": "已完成|失败|已取消", "reason": "内核升级"},
}


SUFFIX = {"": ""}  # the file suffix of the language being walked


def shoot(page, out: Path, name: str, full: bool = False) -> None:
    page.wait_for_timeout(400)
    path = out / f"{name}{SUFFIX['']}.png"
    page.screenshot(path=str(path), full_page=full)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def walk(url: str, password: str, out: Path, language: str = "en") -> None:
    from playwright.sync_api import sync_playwright

    w = LANGUAGES[language]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_context(viewport={"width": 1400, "height": 900}, locale=w["locale"],
                                   timezone_id=w["timezone"]).new_page()
        SUFFIX[""] = w["suffix"]
        page.set_default_timeout(60_000)
        page.goto(f"{url}/login/")
        page.get_by_label(w["Username"]).fill("admin")
        page.get_by_label(w["Password"]).fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name=w["log in"]).click()
        page.goto(f"{url}/")
        shoot(page, out, "overview")
        page.goto(f"{url}/clusters/demo/nodes/?sort=status")
        page.wait_for_function("() => (document.querySelector('#kn-live') || {dataset: {}}).dataset.state === 'live'")
        shoot(page, out, "node-list")
        # a label batch: preview, then the live dialog
        page.goto(f"{url}/clusters/demo/nodes/?q=worker-00")
        page.get_by_label(w["select page"]).check()
        page.get_by_label(w["Action"], exact=True).select_option("label")
        page.get_by_label(w["Labels to set"]).fill("team=blue, tier=gold" if language == "en" else "team=red")
        with page.expect_navigation():
            page.get_by_role("button", name=w["Preview"]).click()
        shoot(page, out, "preview")
        concurrency = page.get_by_label(w["Concurrency"])
        if concurrency.count():
            concurrency.fill("2")
        with page.expect_navigation():
            page.get_by_role("button", name=w["Run label"]).click()
        page.get_by_role("dialog").first.wait_for()
        page.wait_for_function("() => document.querySelectorAll('.kn-progress-nodes li').length >= 12")
        shoot(page, out, "live-dialog")
        task = page.locator(".kn-progress a[href*='/progress/tasks/']").first.get_attribute("href")
        page.wait_for_function("(ended) => new RegExp(ended).test((document.querySelector('.kn-progress-status')"
                               " || {}).textContent || '')", arg=w["ended"], timeout=120_000)
        page.goto(f"{url}{task}")
        shoot(page, out, "task-detail")
        # a drain plan with a blocked pod (the never-disruptible "ledger" app)
        page.goto(f"{url}/clusters/demo/nodes/?q=worker-00")
        for box in page.locator('input[name="node"]').all()[:6]:
            box.check()
        page.get_by_label(w["Action"], exact=True).select_option("drain")
        page.locator("summary", has_text=w["Drain options"]).click()
        for option in w["options"]:
            page.get_by_label(option).check()
        page.get_by_label(w["Reason"]).fill(w["reason"])
        with page.expect_navigation():
            page.get_by_role("button", name=w["Preview"]).click()
        shoot(page, out, "drain-plan")
        # a node's page: one that runs pods of several owners, cordoned with a reason
        page.goto(f"{url}/clusters/demo/nodes/worker-0003/")
        shoot(page, out, "node-detail", full=True)
        # the node list on a phone
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    locale=w["locale"], timezone_id=w["timezone"]).new_page()
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{url}/clusters/demo/nodes/?sort=status")
        shoot(phone, out, "node-list-390")
        browser.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--nodes", type=int, default=150)
    parser.add_argument("--language", choices=(*LANGUAGES, "all"), default="all",
                        help="the pages' language (all: English, then Simplified Chinese)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kubenode-screenshots-"))
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kubenode.settings", "DEBUG": "true", "KUBENODE_DATA_DIR":
           str(work), "SECRET_KEY": secrets.token_urlsafe(50), "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    for key in [k for k in env if k == "KUBENODE_CONFIG" or k.startswith(("DB_", "DATABASE_", "PROGRESS_"))]:
        env.pop(key, None)  # the demo runs on SQLite: a DB_HOST or DB_PORT left in the shell would mean PostgreSQL
    started: list[subprocess.Popen] = []
    try:
        sim_port, web_port = free_port(), free_port()
        kubeconfig = work / "demo-kubeconfig.yaml"
        sim = subprocess.Popen([sys.executable, "manage.py", "kube_sim", "--nodes", str(args.nodes), "--port",
                                str(sim_port), "--kubeconfig", str(kubeconfig), "--seed", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        started.append(sim)
        subprocess.run([str(ROOT / "scripts" / "compile-messages.sh")], check=True)  # the .mo of locale/
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
               f"User.objects.create_superuser('admin', '', {password!r})")
        wait_for(sim_port, sim, "kube_sim")
        manage(env, "demo_cluster", "--kubeconfig", str(kubeconfig), "--wait", "30")
        manage(env, "shell", "-c", "from nodes.models import Cluster; from nodes.kube import client; "
               "from nodes.kube import nodes as n; c = Cluster.objects.get(name='demo'); "
               "n.cordon(client.for_cluster(c), 'worker-0003', reason='disk SMART errors, replacement ordered', "
               "user='admin')")
        web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                                "kubenode.asgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
        started.append(web)
        wait_for(web_port, web, "daphne")
        print(f"screenshots of the demo cluster ({args.nodes} nodes) into {out}:")
        for language in (LANGUAGES if args.language == "all" else (args.language,)):
            walk(f"http://127.0.0.1:{web_port}", password, out, language)
    finally:
        for proc in reversed(started):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
