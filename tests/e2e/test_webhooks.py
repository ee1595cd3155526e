"""Push to deploy: signed webhooks from forges, ``sync`` and ``/health``, on the real daemon
over real HTTP, against the real engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import World, metric_samples, stack_yaml
from .test_reconcile import free_port, running, wait_for

SECRET = "s3cret-of-the-forge"


def github(body: bytes, secret: str = SECRET, event: str = "push") -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def gitea(body: bytes, secret: str = SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": "push",
        "X-Gitea-Delivery": "4fe0b8a2-3d4e-4b1b-9c52-3a0a8e0a8b1f",
        "X-Gitea-Signature": signature,
        # Gitea sends Gogs' header too, with the same signature.
        "X-Gogs-Signature": signature,
    }


def gitlab(body: bytes, secret: str = SECRET) -> dict[str, str]:
    del body
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": secret,
    }


FORGES = {"github": github, "gitea": gitea, "gitlab": gitlab}


def push_payload(ref: str = "refs/heads/main") -> bytes:
    """The fields every forge's push event has, in the shape they send them."""
    return json.dumps(
        {
            "ref": ref,
            "before": "0" * 40,
            "after": "1" * 40,
            "repository": {"full_name": "ops/host", "clone_url": "https://forge/ops/host.git"},
            "pusher": {"name": "e2e"},
            "commits": [{"id": "1" * 40, "message": "deploy"}],
        }
    ).encode()


def post(
    port: int, body: bytes, headers: Mapping[str, str], method: str = "POST"
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook", data=body, headers=dict(headers), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def samples(port: int) -> dict[str, float]:
    return metric_samples(get(port, "/metrics")[1].decode())


def checks(port: int) -> float:
    found = samples(port)
    return found["gitops_check_success_total"] + found["gitops_check_error_total"]


class Daemon:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.stderr = ""


@contextmanager
def daemon(
    world: World, *args: str, secret: str | None = SECRET, env: Mapping[str, str] | None = None
) -> Iterator[Daemon]:
    port = free_port()
    extra = dict(env or {})
    if secret is not None:
        extra["GITOPS_WEBHOOK_SECRET"] = secret
    process = subprocess.Popen(
        [*world.run_command(), "--metrics-addr", f"127.0.0.1:{port}", *args],
        env=world.env(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running_daemon = Daemon(process, port)
    try:
        # Up, and its first check over: the counts below start from there.
        if "--no-metrics" in args:
            state = world.host / ".git" / "gitops-compose" / "state.json"
            started = wait_for(state.exists, 60)
        else:
            started = wait_for(lambda: _first_check_over(port), 60)
        assert started, "the daemon did not start"
        yield running_daemon
    finally:
        process.terminate()
        _, running_daemon.stderr = process.communicate(timeout=60)
    assert process.returncode == 0, running_daemon.stderr
    assert "Traceback" not in running_daemon.stderr


def _first_check_over(port: int) -> bool:
    try:
        return checks(port) >= 1
    except OSError:
        return False


def settled(port: int, seconds: float = 2.0) -> float:
    """The check count once no check has ended for ``seconds``."""
    last = checks(port)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < seconds:
        time.sleep(0.2)
        now = checks(port)
        if now != last:
            last, quiet_since = now, time.monotonic()
    return last


@pytest.mark.parametrize("forge", sorted(FORGES))
def test_a_signed_push_deploys_within_seconds(world: World, forge: str) -> None:
    app = world.name("app")
    with daemon(world, "--interval", "3600") as running_daemon:
        world.pusher.write(f"{app}/compose.yaml", stack_yaml())
        world.pusher.commit_and_push("app")
        body = push_payload()
        pushed = time.monotonic()

        code, answer = post(running_daemon.port, body, FORGES[forge](body))

        assert code == 202, answer
        assert json.loads(answer) == {"result": "accepted", "reason": "check queued"}
        assert wait_for(lambda: running(world, app), 15)
        assert time.monotonic() - pushed < 15
        found = samples(running_daemon.port)
        assert found["gitops_webhook_requests_total{result=accepted}"] == 1
        assert found["gitops_webhook_requests_total{result=unauthorized}"] == 0


def test_a_bad_signature_gives_401_and_no_check(world: World) -> None:
    app = world.name("app")
    with daemon(world, "--interval", "3600") as running_daemon:
        world.pusher.write(f"{app}/compose.yaml", stack_yaml())
        world.pusher.commit_and_push("app")
        before = settled(running_daemon.port)
        body = push_payload()
        forged = [
            github(body, secret="guessed"),
            # Signed, then the body changed on the way.
            github(push_payload("refs/heads/main ")),
            gitea(body, secret="guessed"),
            gitlab(body, secret="guessed"),
            {"Authorization": "Bearer guessed", "Content-Type": "application/json"},
            {"X-Hub-Signature-256": "sha256=", "Content-Type": "application/json"},
            {"Content-Type": "application/json"},
        ]

        answers = [post(running_daemon.port, body, headers)[0] for headers in forged]

        assert answers == [401] * len(forged)
        assert settled(running_daemon.port) == before
        assert world.containers(app) == []
        found = samples(running_daemon.port)
        assert found["gitops_webhook_requests_total{result=unauthorized}"] == len(forged)
        assert found["gitops_webhook_requests_total{result=accepted}"] == 0
    # No log line per rejected request: the daemon's own lines only.
    logged = {line.split()[2] for line in running_daemon.stderr.splitlines()}
    assert logged <= {"started", "check", "stopping", "stopped"}, running_daemon.stderr


def test_a_push_to_another_branch_or_a_ping_gives_200_and_no_check(world: World) -> None:
    with daemon(world, "--interval", "3600") as running_daemon:
        before = settled(running_daemon.port)
        other = push_payload("refs/heads/feature")
        tag = push_payload("refs/tags/v1.0")
        ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()

        answers = [
            post(running_daemon.port, other, github(other)),
            post(running_daemon.port, tag, gitlab(tag)),
            post(running_daemon.port, ping, github(ping, event="ping")),
        ]

        assert [code for code, _ in answers] == [200, 200, 200]
        assert json.loads(answers[0][1])["result"] == "ignored"
        assert "refs/heads/feature" in json.loads(answers[0][1])["reason"]
        assert settled(running_daemon.port) == before
        assert samples(running_daemon.port)["gitops_webhook_requests_total{result=ignored}"] == 3


def test_a_burst_of_1000_hooks_costs_a_handful_of_checks(world: World) -> None:
    app = world.name("app")
    with daemon(world, "--interval", "3600") as running_daemon:
        before = settled(running_daemon.port)
        world.pusher.write(f"{app}/compose.yaml", stack_yaml())
        world.pusher.commit_and_push("app")
        body = push_payload()
        headers = gitea(body)

        with ThreadPoolExecutor(max_workers=32) as pool:
            codes = list(
                pool.map(lambda _: post(running_daemon.port, body, headers)[0], range(1000))
            )

        assert codes == [202] * 1000
        after = settled(running_daemon.port)
        assert running(world, app)
        spent = after - before
        print(f"1000 hooks cost {spent:.0f} checks")
        # Without coalescing each hook would cost one; checks never overlap, so hooks that
        # come during a check make one more after it. How many checks fit in the burst
        # depends on the machine's load (14 seen with the suite on three workers).
        assert 1 <= spent <= 25
        accepted = samples(running_daemon.port)["gitops_webhook_requests_total{result=accepted}"]
        assert accepted == 1000


def test_without_a_secret_the_webhook_is_not_there(world: World) -> None:
    with daemon(world, "--interval", "3600", secret=None) as running_daemon:
        before = settled(running_daemon.port)
        body = push_payload()

        code, _ = post(running_daemon.port, body, {"Authorization": "Bearer ", **github(body)})

        assert code == 404
        assert settled(running_daemon.port) == before
        assert (
            "gitops_webhook_requests_total" not in get(running_daemon.port, "/metrics")[1].decode()
        )


def test_a_body_over_1_mib_gives_413_and_a_wrong_method_405(world: World) -> None:
    with daemon(world, "--interval", "3600") as running_daemon:
        before = settled(running_daemon.port)
        huge = b'{"ref": "refs/heads/main", "padding": "' + b"x" * (1024 * 1024) + b'"}'

        assert post(running_daemon.port, huge, github(huge))[0] == 413
        assert get(running_daemon.port, "/webhook")[0] == 405
        assert post(running_daemon.port, b"{not json", gitlab(b""))[0] == 400

        assert settled(running_daemon.port) == before
        found = samples(running_daemon.port)
        assert found["gitops_webhook_requests_total{result=bad_request}"] == 3


def test_sync_wait_checks_now_and_exits_as_once_would(world: World) -> None:
    app, bad = world.names("app", "bad")
    with daemon(world, "--interval", "3600", "--no-metrics", secret=None) as running_daemon:
        del running_daemon
        world.pusher.write(f"{app}/compose.yaml", stack_yaml())
        world.pusher.commit_and_push("app")

        done = world.run("sync", "--wait", timeout=120)

        assert done.returncode == 0, done.stderr
        assert running(world, app)
        assert done.stdout.splitlines() == ["check queued", "check ok; the daemon's log says more"]

        # A stack that cannot start: the check fails, and so does sync --wait.
        world.pusher.write(f"{bad}/compose.yaml", stack_yaml("exit 3"))
        world.pusher.commit_and_push("bad")
        failed = world.run("sync", "--wait", timeout=120)
        assert failed.returncode == 1, failed.stderr

        queued = world.run("sync")
        assert queued.returncode == 0
        assert queued.stdout.strip() == "check queued"


def test_sync_without_a_daemon_says_so_and_exits_2(world: World) -> None:
    done = world.run("sync", "--wait")

    assert done.returncode == 2
    assert done.stderr.startswith("gitops-compose: no daemon runs for the state directory")
    assert len(done.stderr.strip().splitlines()) == 1


def test_health_turns_503_while_the_origin_is_unreachable_and_back(world: World) -> None:
    with daemon(world, "--interval", "1") as running_daemon:
        port = running_daemon.port
        code, answer = get(port, "/health")
        assert code == 200, answer
        assert json.loads(answer)["status"] == "ok"

        moved = world.origin.with_name("moved.git")
        world.origin.rename(moved)
        try:
            assert wait_for(lambda: get(port, "/health")[0] == 503, 20)
            document = json.loads(get(port, "/health")[1])
            assert document["status"] == "failing"
            assert "no check succeeded" in document["reason"]
            assert "does not exist" in document["reason"]
        finally:
            moved.rename(world.origin)
        assert wait_for(lambda: get(port, "/health")[0] == 200, 20)


def test_a_setup_for_the_original_1_0_works_without_our_options(world: World) -> None:
    app, ignored = world.names("app", "ignored")
    watching = stack_yaml(top="x-gitops:\n  watch: [../shared/schema.sql]\n")
    world.pusher.write(f"{app}/compose.yaml", watching)
    world.pusher.write("shared/schema.sql", "create table a;\n")
    world.pusher.write(
        f"{ignored}/compose.yaml", stack_yaml(extra='labels: ["gitops.ignore=true"]')
    )
    world.pusher.commit_and_push("app watching the schema")
    original = {
        "REPOSITORY_PATH": str(world.host),
        "CHECK_INTERVAL_IN_SECONDS": "1",
        "WEBHOOK_ENABLED": "false",
        "METRICS_ENABLED": "false",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gitops_compose"],
        cwd=world.tmp,
        env=world.env(original),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: running(world, app), 60)
        first = world.containers(app)[0]["id"]
        world.pusher.write("shared/schema.sql", "create table b;\n")
        world.pusher.commit_and_push("the schema changes")
        assert wait_for(lambda: running(world, app) and world.containers(app)[0]["id"] != first, 60)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines()]
    restarts = [e for e in lines if e["event"] == "stack" and e["action"] == "restart"]
    assert [each["reason"] for each in restarts] == ["changed: shared/schema.sql → app"]
    assert (lines[0]["event"], lines[0]["interval"]) == ("started", 1.0)
    # LOG_LEVEL=debug: each Docker command is a line.
    commands = [e["command"].split() for e in lines if e["event"] == "docker"]
    assert ["docker", "ps"] in [each[:2] for each in commands]
    assert any(each[:2] == ["docker", "compose"] and "up" in each for each in commands)
    assert world.containers(ignored) == []

    # The original's families, beside ours, as prometheus-client parses them.
    metrics_file = world.tmp / "gitops.prom"
    done = world.run("--once", "--metrics-file", str(metrics_file))
    assert done.returncode == 0, done.stderr
    families = {
        family.name: {
            tuple(sorted(sample.labels.items())): sample.value for sample in family.samples
        }
        for family in text_string_to_metric_families(metrics_file.read_text())
    }
    assert families["gitops_check"][(("status", "error"),)] == 0
    assert families["gitops_check"][(("status", "success"),)] >= 3
    assert families["gitops_deployments_active_total"] == {
        (("status", "running"),): 1,
        (("status", "failed"),): 0,
        (("status", "invalid"),): 0,
        (("status", "ignored"),): 1,
    }
    operations = families["gitops_deployments_operations"]
    assert operations[(("operation", "started"),)] == 1
    assert operations[(("operation", "updated"),)] == 1
    assert operations[(("operation", "failed"),)] == 0
    changed = families["gitops_deployments_change_timestamp_seconds"]
    assert time.time() - 120 < changed[(("status", "success"),)] <= time.time()
    assert changed[(("status", "error"),)] == 0
    checked = families["gitops_check_timestamp_seconds"]
    assert time.time() - 120 < checked[(("status", "success"),)] <= time.time()
    # Ours stay as they are.
    assert families["gitops_check_success"][()] >= 3
    assert families["gitops_deployment_active_total"][(("status", "ok"),)] == 1
