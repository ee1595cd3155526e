"""Commit statuses on the real engine and git, posted to an HTTP server in the test that
plays each forge's commit-status API at its documented path: it checks the authorization
header and the JSON fields against the forge's documentation and records what it got."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from .git_servers import SmartHttpServer
from .harness import IMAGE_V2, MISSING_IMAGE, World, git, stack_yaml
from .test_notifications import Receiver

TOKEN = "forge-t0ken-e2e-9f3a"
WEBHOOK_SECRET = "hook-s3cret-e2e-71c2"
REMOTE_PASSWORD = "remote-pa55-e2e-4d0b"
HOST_NAME = "host-e2e"
CONTEXT = f"gitops-compose/{HOST_NAME}"

# The path, header and states each forge documents for creating a commit status.
PATHS = {
    "github": re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/statuses/(?P<sha>[0-9a-f]{40})$"),
    "gitea": re.compile(r"^/api/v1/repos/(?P<repo>[^/]+/[^/]+)/statuses/(?P<sha>[0-9a-f]{40})$"),
    "gitlab": re.compile(r"^/api/v4/projects/(?P<repo>[^/]+)/statuses/(?P<sha>[0-9a-f]{40})$"),
}
AUTHORIZATION = {
    "github": ("Authorization", f"Bearer {TOKEN}"),
    "gitea": ("Authorization", f"token {TOKEN}"),
    "gitlab": ("PRIVATE-TOKEN", TOKEN),
}
STATES = {
    "github": {"pending", "success", "failure", "error"},
    "gitea": {"pending", "success", "failure", "error", "warning"},
    "gitlab": {"pending", "running", "success", "failed", "canceled"},
}
FIELDS = {
    "github": ({"state"}, {"state", "target_url", "description", "context"}),
    "gitea": ({"state"}, {"state", "target_url", "description", "context"}),
    "gitlab": ({"state"}, {"state", "ref", "name", "context", "target_url", "description"}),
}


@dataclass(frozen=True)
class Posted:
    repo: str
    sha: str
    state: str
    context: str
    description: str


class FakeForge:
    """An HTTP server answering a forge's ``POST .../statuses/{sha}`` as it documents it;
    anything else is refused (and recorded as a problem)."""

    def __init__(self, forge: str, answer: int = 201) -> None:
        self.forge = forge
        self.answer = answer
        self.posted: list[Posted] = []
        self.problems: list[str] = []
        self.raw: list[bytes] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with fake.lock:
                    fake.raw.append(body + str(self.headers).encode() + self.path.encode())
                problem = fake.problem(self.path, self.headers, body)
                if problem is not None:
                    with fake.lock:
                        fake.problems.append(problem)
                    self.send_response(422)
                    self.end_headers()
                    return
                self.send_response(fake.answer)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def api(self) -> str:
        """The API's base URL, as --forge-url takes it."""
        root = f"http://127.0.0.1:{self.server.server_address[1]}"
        return {"github": root, "gitea": f"{root}/api/v1", "gitlab": f"{root}/api/v4"}[self.forge]

    def problem(self, path: str, headers: Any, body: bytes) -> str | None:
        found = PATHS[self.forge].match(path)
        if found is None:
            return f"not the documented path: {path}"
        header, value = AUTHORIZATION[self.forge]
        if headers.get(header) != value:
            return f"no {header} header with the token"
        if "json" not in (headers.get("Content-Type") or ""):
            return "not JSON"
        try:
            fields = json.loads(body)
        except ValueError:
            return "a body that is no JSON"
        required, allowed = FIELDS[self.forge]
        if not isinstance(fields, dict) or not required <= set(fields) <= allowed:
            return f"fields {sorted(fields)} not as documented"
        if fields["state"] not in STATES[self.forge]:
            return f"a state the forge does not take: {fields['state']}"
        if not all(isinstance(value, str) for value in fields.values()):
            return "a field that is no string"
        context = fields.get("name" if self.forge == "gitlab" else "context", "")
        with self.lock:
            self.posted.append(
                Posted(
                    unquote(found.group("repo")),
                    found.group("sha"),
                    fields["state"],
                    context,
                    fields.get("description", ""),
                )
            )
        return None

    def take(self) -> list[Posted]:
        with self.lock:
            taken, self.posted = self.posted, []
        assert self.problems == []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forges() -> Iterator[list[FakeForge]]:
    made: list[FakeForge] = []
    yield made
    for each in made:
        each.close()


def started(forges: list[FakeForge], forge: str, answer: int = 201) -> FakeForge:
    fake = FakeForge(forge, answer)
    forges.append(fake)
    return fake


def once(world: World, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return world.run("--once", "--log-format", "json", *args, env=env)


def posting(world: World, fake: FakeForge, repo: str, *args: str) -> Any:
    return once(
        world,
        "--commit-status",
        fake.forge,
        "--forge-url",
        fake.api,
        "--forge-repo",
        repo,
        "--name",
        HOST_NAME,
        *args,
        env={"GITOPS_FORGE_TOKEN": TOKEN},
    )


@pytest.mark.parametrize(
    ("forge", "repo"),
    [("github", "acme/stacks"), ("gitea", "acme/stacks"), ("gitlab", "acme/infra/stacks")],
)
def test_a_good_push_posts_pending_then_success_on_the_remote_head(
    world: World, forges: list[FakeForge], forge: str, repo: str
) -> None:
    fake = started(forges, forge)
    path = world.name("status")
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600"))
    head = world.pusher.commit_and_push("a good stack")

    done = posting(world, fake, repo)

    assert done.returncode == 0, done.stderr
    posted = fake.take()
    assert [(each.state, each.sha) for each in posted] == [("pending", head), ("success", head)]
    for each in posted:
        assert each.repo == repo
        assert each.context == CONTEXT
        assert path in each.description
    assert git(world.host, "rev-parse", "HEAD") == head

    # Nothing new: nothing deployed, nothing posted.
    assert posting(world, fake, repo).returncode == 0
    assert fake.take() == []


def test_a_rolled_back_push_posts_failure(world: World, forges: list[FakeForge]) -> None:
    fake = started(forges, "gitlab")
    path = world.name("statusroll")
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600"))
    world.pusher.commit_and_push("a good stack")
    assert posting(world, fake, "acme/stacks").returncode == 0
    assert [each.state for each in fake.take()] == ["pending", "success"]
    crashing = stack_yaml(
        "echo migrating; sleep 1; echo schema mismatch; exit 1",
        image=IMAGE_V2,
        extra="restart: unless-stopped",
    )
    world.pusher.write(f"{path}/compose.yaml", crashing)
    head = world.pusher.commit_and_push("a release that crashes")

    done = posting(world, fake, "acme/stacks", "--settle", "4")

    assert done.returncode == 1
    pending, failed = fake.take()
    assert (pending.state, pending.sha) == ("pending", head)
    assert (failed.state, failed.sha) == ("failed", head)  # GitLab's word for a failure
    assert f"rolled back: {path}" in failed.description
    assert failed.context == CONTEXT


def test_a_forge_answering_500_changes_nothing_in_the_check(
    world: World, forges: list[FakeForge]
) -> None:
    fake = started(forges, "github", answer=500)
    path = world.name("status500")
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600"))
    head = world.pusher.commit_and_push("a good stack")

    done = posting(world, fake, "acme/stacks", "--notify-timeout", "3")

    assert done.returncode == 0, done.stderr  # the check's own code
    assert [each.state for each in fake.take()] == ["pending", "success"]
    failed = [
        json.loads(line)
        for line in done.stderr.splitlines()
        if line.startswith("{") and '"commit-status"' in line
    ]
    assert len(failed) == 2, done.stderr  # one line per status not taken
    assert all("HTTP 500" in each["error"] for each in failed)
    assert git(world.host, "rev-parse", "HEAD") == head
    assert TOKEN not in done.stderr + done.stdout


def test_a_forge_that_hangs_adds_no_more_than_the_timeout(world: World) -> None:
    path = world.name("statusdown")
    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    world.pusher.commit_and_push("a stack whose image is missing")
    began = time.monotonic()
    assert once(world, env={}).returncode == 1
    plain = time.monotonic() - began
    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=f"{MISSING_IMAGE}x"))
    world.pusher.commit_and_push("another missing image")
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)  # takes connections, never answers
    try:
        began = time.monotonic()
        done = once(
            world,
            "--commit-status",
            "gitea",
            "--forge-url",
            f"http://127.0.0.1:{hanging.getsockname()[1]}/api/v1",
            "--forge-repo",
            "acme/stacks",
            "--notify-timeout",
            "2",
            env={"GITOPS_FORGE_TOKEN": TOKEN},
        )
        took = time.monotonic() - began
    finally:
        hanging.close()
    assert done.returncode == 1  # the check's: the image cannot be pulled
    # Pending goes out beside the check; after it, what is left waits at most the timeout
    # (and a second of slack).
    assert took < plain + 2 + 1 + 5, (took, plain)
    failed = [line for line in done.stderr.splitlines() if '"commit-status"' in line]
    assert failed, done.stderr


def test_no_token_secret_or_password_reaches_a_status_or_a_notification(
    world: World, forges: list[FakeForge], tmp_path: Any
) -> None:
    fake = started(forges, "gitea")
    receiver = Receiver()
    # The remote over HTTP with a password in its URL, at a path that names the repository.
    (world.tmp / "acme").mkdir()
    (world.tmp / "acme" / "stacks.git").symlink_to(world.origin)
    token_file = tmp_path / "forge-token"
    token_file.write_text(f"{TOKEN}\n")
    try:
        with SmartHttpServer(world.tmp, "deploy", REMOTE_PASSWORD) as server:
            git(
                world.host,
                "remote",
                "set-url",
                "origin",
                server.url("acme/stacks.git", f"deploy:{REMOTE_PASSWORD}"),
            )
            path = world.name("statussecret")
            world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
            head = world.pusher.commit_and_push("a stack whose image is missing")
            args = (
                "--commit-status",
                "gitea",
                "--forge-token-file",
                str(token_file),
                "--forge-url",
                fake.api,  # the repository comes from the remote's URL
                "--notify",
                receiver.url,
                "--notify-on",
                "changes",
                "--name",
                HOST_NAME,
            )
            secrets = {"GITOPS_WEBHOOK_SECRET": WEBHOOK_SECRET}
            failing = once(world, *args, env=secrets)
            world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600"))
            fixed_head = world.pusher.commit_and_push("the image fixed")
            fixed = once(world, *args, env=secrets)
        # The server is gone: a fetch that fails says the remote's URL, redacted everywhere.
        broken = once(world, *args, env=secrets)
    finally:
        receiver.close()
    assert failing.returncode == 1, failing.stderr
    assert fixed.returncode == 0, fixed.stderr
    assert broken.returncode == 1
    posted = fake.take()
    assert [(each.state, each.sha) for each in posted] == [
        ("pending", head),
        ("failure", head),
        ("pending", fixed_head),
        ("success", fixed_head),
    ]
    assert all(each.repo == "acme/stacks" for each in posted)
    assert receiver.raw, "the notifications went out"
    bodies = [*fake.raw, *receiver.raw]
    for secret in (TOKEN, WEBHOOK_SECRET, REMOTE_PASSWORD):
        for body in bodies:
            # The forge's own header carries its token; nothing else may.
            text = body.decode(errors="replace").replace(f"token {TOKEN}", "")
            assert secret not in text, secret
        for done in (failing, fixed, broken):
            assert secret not in done.stdout + done.stderr, secret
