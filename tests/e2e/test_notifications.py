"""Notifications through Apprise to a real receiver: a ``json://`` webhook served by an HTTP
server in the test, on the real engine and git; told once per reason, across ``--once``
runs, and never in the way of a check."""

from __future__ import annotations

import email
import email.message
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .harness import IMAGE_V1, IMAGE_V2, MISSING_IMAGE, World, stack_yaml
from .test_reconcile import once

PASSWORD = "s3cr3t-remote-pw"


class Receiver:
    """An HTTP server that records each JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, str]] = []
        self.raw: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.raw.append(body)
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/"

    def take(self) -> list[dict[str, str]]:
        taken, self.bodies = self.bodies, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    yield served
    served.close()


def notified(world: World, receiver: Receiver, *args: str) -> int:
    done = once(world, "--notify", receiver.url, "--name", "host-e2e", *args)
    return done.returncode


def test_a_failure_is_told_once_across_runs_and_its_recovery_once(
    world: World, receiver: Receiver
) -> None:
    path = f"note{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    world.pusher.commit_and_push("a stack whose image is missing")

    assert notified(world, receiver) == 1
    [told] = receiver.take()
    assert told["type"] == "failure"
    assert path in told["title"]
    assert "failed" in told["title"]
    assert "host-e2e" in told["message"]
    assert path in told["message"]
    assert "missing" in told["message"]  # the reason: the image cannot be pulled

    # The same failure again, by later --once runs (a retry, or nothing to try): no more.
    assert notified(world, receiver) == 1
    assert notified(world, receiver, "--self-heal") == 1
    assert receiver.take() == []

    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=IMAGE_V1))
    world.pusher.commit_and_push("the image fixed")
    assert notified(world, receiver) == 0
    [recovered] = receiver.take()
    assert recovered["type"] == "success"
    assert path in recovered["title"]
    assert "recovered" in recovered["title"]

    assert notified(world, receiver) == 0
    assert receiver.take() == []
    for body in receiver.raw:
        assert PASSWORD.encode() not in body


def test_a_rollback_is_told_once_with_the_log_lines(world: World, receiver: Receiver) -> None:
    path = f"noteroll{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600"))
    world.pusher.commit_and_push("a good stack")
    assert notified(world, receiver) == 0
    assert receiver.take() == []
    crashing = stack_yaml(
        "echo migrating; sleep 1; echo schema mismatch; exit 1",
        image=IMAGE_V2,
        extra="restart: unless-stopped",
    )
    world.pusher.write(f"{path}/compose.yaml", crashing)
    world.pusher.commit_and_push("a release that crashes")

    assert notified(world, receiver, "--settle", "4") == 1
    [told] = receiver.take()
    assert told["type"] == "warning"
    assert "rolled back" in told["title"]
    assert path in told["title"]
    assert "schema mismatch" in told["message"]

    assert notified(world, receiver) == 1
    assert receiver.take() == []


def test_changes_tell_one_summary_per_check(world: World, receiver: Receiver) -> None:
    path = f"notechg{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", stack_yaml("sleep 3600"))
    world.pusher.commit_and_push("a good stack")
    assert notified(world, receiver, "--notify-on", "changes") == 0
    [summary] = receiver.take()
    assert summary["type"] == "info"
    assert path in summary["message"]


def _hanging_listener() -> tuple[socket.socket, str]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener, f"json://127.0.0.1:{listener.getsockname()[1]}/"


def _down_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"json://127.0.0.1:{port}/"


def test_a_receiver_down_or_hanging_changes_nothing_but_a_bounded_wait(world: World) -> None:
    path = f"notedown{uuid.uuid4().hex[:6]}"
    world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
    world.pusher.commit_and_push("a stack whose image is missing")
    listener, hanging = _hanging_listener()
    try:
        began = time.monotonic()
        baseline = once(world)
        plain = time.monotonic() - began
        assert baseline.returncode == 1
        world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=f"{MISSING_IMAGE}x"))
        world.pusher.commit_and_push("another missing image: a new reason")

        began = time.monotonic()
        done = once(world, "--notify", _down_url(), "--notify", hanging, "--notify-timeout", "2")
        took = time.monotonic() - began
    finally:
        listener.close()
    assert done.returncode == 1  # the check's own code
    failed = [line for line in done.stderr.splitlines() if '"notify"' in line]
    assert len(failed) == 2, done.stderr
    # The check itself (a pull that fails) takes about as long as before; the wait for the
    # notifications is bounded by their timeout (and a second of slack).
    assert took < plain + 2 + 1 + 5, (took, plain)


def test_notify_test_says_per_target_whether_it_was_delivered(
    world: World, receiver: Receiver
) -> None:
    done = world.run("notify-test", "--notify", receiver.url, "--name", "host-e2e")
    assert done.returncode == 0, done.stderr
    assert "delivered" in done.stdout
    [test] = receiver.take()
    assert "host-e2e" in test["message"]

    down = _down_url()
    done = world.run(
        "notify-test", "--notify", receiver.url, "--notify", down, "--notify-timeout", "2"
    )
    assert done.returncode == 1
    assert "not delivered" in done.stdout
    assert len(receiver.take()) == 1

    bad = world.run("--once", "--notify-on", "sometimes")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1


class MailServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, keeping each message it takes."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller  # noqa: PLC0415

        self.messages: list[email.message.Message] = []
        kept = self.messages

        class Handler:
            async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
                del server, session
                content = getattr(envelope, "content", b"")
                kept.append(email.message_from_bytes(content))
                return "250 OK"

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=gitops@example.org&to=ops@example.org"

    def close(self) -> None:
        self.controller.stop()


def text_of(message: email.message.Message) -> str:
    """The subject and every text part of a message, decoded."""
    parts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(parts)


def test_a_failure_is_mailed_once_to_a_real_smtp_server(world: World) -> None:
    mail = MailServer()
    try:
        path = f"notemail{uuid.uuid4().hex[:6]}"
        world.pusher.write(f"{path}/compose.yaml", stack_yaml(image=MISSING_IMAGE))
        world.pusher.commit_and_push("a stack whose image is missing")
        assert once(world, "--notify", mail.url, "--name", "host-e2e").returncode == 1
        assert once(world, "--notify", mail.url, "--name", "host-e2e").returncode == 1
    finally:
        mail.close()
    [message] = mail.messages
    assert message["To"] == "ops@example.org"
    text = text_of(message)
    assert f"host-e2e: stack {path} failed" in text
    assert "missing" in text  # the reason
