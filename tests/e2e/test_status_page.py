"""The status page in a real browser (Debian's chromium, headless) served by a real daemon
managing three stacks on the real engine, one of which cannot be pulled.

The page shows each stack with its status word and the failing one's reason; a stack's
page lists its events newest first; a commit subject carrying a script shows as text, and
no script of it runs (a DevTools listener sees no dialog and no exception).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .cdp import DevTools
from .harness import MISSING_IMAGE, World, stack_yaml
from .test_prometheus import daemon, fetch, wait_until
from .test_reconcile import free_port

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture
def chromium(engine: str) -> str:
    del engine
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("no chromium: scripts/chromium.sh ensure installs it")
    return found


def browser_flags(profile: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]


def dump_dom(binary: str, tmp: Path, url: str) -> str:
    done = subprocess.run(
        [binary, *browser_flags(tmp / "profile-dom"), "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def all_seen(port: int, stacks: dict[str, str]) -> bool | None:
    body = fetch(f"http://127.0.0.1:{port}/status")
    if body is None:
        return None
    document = json.loads(body)
    found = {each["stack"]: each["status"] for each in document.get("stacks", [])}
    return True if all(found.get(path) == word for path, word in stacks.items()) else None


@contextmanager
def devtools(binary: str, tmp: Path) -> Iterator[DevTools]:
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            *browser_flags(tmp / "profile-cdp"),
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        targets = wait_until(
            lambda: fetch(f"http://127.0.0.1:{port}/json/list"), 60, "DevTools listening"
        )
        page = next(t for t in json.loads(targets) if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        try:
            yield tools
        finally:
            tools.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_the_status_page_in_a_real_browser(world: World, chromium: str, tmp_path: Path) -> None:
    web, db, broken = world.names("page-web", "page-db", "page-broken")
    world.pusher.write(f"{web}/compose.yaml", stack_yaml())
    world.pusher.write(f"{db}/compose.yaml", stack_yaml())
    world.pusher.write(f"{broken}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    world.pusher.commit_and_push(f"three stacks {EVIL}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with daemon(world, port):
        wait_until(
            lambda: all_seen(port, {web: "ok", db: "ok", broken: "error"}), 180, "stacks seen"
        )
        with urllib.request.urlopen(f"{base}/", timeout=10) as answer:
            headers = answer.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"

        screenshot = tmp_path / "status-page.png"
        subprocess.run(
            [
                chromium,
                *browser_flags(tmp_path / "profile-shot"),
                f"--screenshot={screenshot}",
                "--window-size=412,915",
                f"{base}/",
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        assert screenshot.stat().st_size > 1000

        dom = dump_dom(chromium, tmp_path, f"{base}/")
        for path, word in ((web, "ok"), (db, "ok"), (broken, "error")):
            row = dom.split(f'data-key="stack:{path}"', 1)[1].split("</tr>", 1)[0]
            assert f'<span class="status">{word}</span>' in row, row
        broken_row = dom.split(f'data-key="stack:{broken}"', 1)[1].split("</tr>", 1)[0]
        assert "gitops-test/missing" in broken_row
        # The subject is text, escaped in the DOM, not elements.
        assert "three stacks &lt;script&gt;alert(1)&lt;/script&gt;&lt;img" in dom
        assert "<img src=" not in dom

        stack_dom = dump_dom(chromium, tmp_path, f"{base}/stacks/{web}")
        events = stack_dom.split("<tbody>", 1)[1]
        order = [events.index(f">{word}<") for word in ("succeeded", "started", "planned")]
        assert order == sorted(order), events

        with devtools(chromium, tmp_path) as tools:
            tools.command("Page.enable")
            tools.command("Runtime.enable")
            tools.command("Log.enable")
            tools.command("Network.enable")
            tools.command("Page.navigate", url=f"{base}/")
            # Long enough for the page's own script to refresh once (every 5 s).
            tools.listen(7)
            shown = tools.command(
                "Runtime.evaluate", expression="document.getElementById('main').innerText"
            )["result"]["value"]
            methods = [event.get("method") for event in tools.events]
        assert "Page.loadEventFired" in methods
        # The page's script fetched its content again, as it does every 5 s.
        refreshed = [
            event["params"]["request"]["url"]
            for event in tools.events
            if event.get("method") == "Network.requestWillBeSent"
        ]
        assert f"{base}/?part=main" in refreshed, refreshed
        assert "Page.javascriptDialogOpening" not in methods, tools.events
        assert "Runtime.exceptionThrown" not in methods, tools.events
        assert f"three stacks {EVIL}" in shown
        assert broken in shown
