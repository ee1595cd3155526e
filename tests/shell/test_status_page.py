"""The status page rendered and served: what it shows, that it escapes, its headers."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from gitops_compose.core.reconcile.health import Health, HealthReport
from gitops_compose.core.reconcile.history import Happening, HistoryEntry, kept
from gitops_compose.core.reconcile.state import State, state_from_json, state_to_json
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.shell.history_reporter import LastCheck
from gitops_compose.shell.metrics import MetricsServer, StateMetrics, serve
from gitops_compose.shell.status_page import (
    PageFacts,
    StatusPage,
    main_of_page,
    main_of_stack,
)

EVIL = "<script>alert(1)</script>"
A = "a" * 40
B = "b" * 40

STATE = State(
    desired_commit=B,
    settled_commit=A,
    stacks={
        "web": StackStatus(project="web", status=Status.OK, commit=B),
        f"bad{EVIL}": StackStatus(
            project="bad",
            status=Status.ERROR,
            commit=A,
            error=f"compose up failed: {EVIL}",
            failures=3,
            retry_at=2_000_000_000.0,
        ),
    },
    history=(
        HistoryEntry("web", Happening.PLANNED, 1_700_000_000.0, B, "start: new stack"),
        HistoryEntry("web", Happening.STARTED, 1_700_000_001.0, B),
        HistoryEntry("web", Happening.SUCCEEDED, 1_700_000_002.0, B),
        HistoryEntry(f"bad{EVIL}", Happening.FAILED, 1_700_000_003.0, A, EVIL),
    ),
)
FACTS = PageFacts(
    host="host-1",
    followed="origin (https://***@example.com/repo.git)",
    branch="main",
    interval=60.0,
    last_check=LastCheck(1_700_000_000.0, 1_700_000_004.5, False, None),
    subjects={A: f"subject {EVIL}", B: "second commit"},
    waits_for={"web": ("db",)},
)
HEALTHY = HealthReport(Health.OK, "the last check succeeded")


def test_the_page_shows_each_stack_with_its_status_word_and_reason() -> None:
    main = main_of_page(STATE, FACTS, HEALTHY, 0.0)
    assert "host-1" in main
    assert "https://***@example.com/repo.git" in main
    assert ">ok<" in main
    assert ">error<" in main
    assert "compose up failed: &lt;script&gt;alert(1)&lt;/script&gt;" in main
    assert "second commit" in main
    assert "took 4.5 s" in main
    assert ">db<" in main
    assert "2033-05-18" in main  # the next retry


def test_every_condition_has_a_word_on_the_page() -> None:
    drifted = StackStatus(project="web", status=Status.OK, commit=B, drift=("app",))
    stopped = StackStatus(project="web", status=Status.OK, commit=B, down="exited: app")
    gone = StackStatus(project="web", status=Status.REMOVAL_FAILED, error="stop failed")
    stacks = {"drifted": drifted, "stopped": stopped, "gone": gone}
    main = main_of_page(State(stacks=stacks), FACTS, HEALTHY, 0.0)
    assert ">drifted<" in main
    assert "drift: app run other configuration" in main
    assert ">not running<" in main
    assert ">removal failed<" in main


def test_nothing_shown_is_left_unescaped() -> None:
    page = main_of_page(STATE, FACTS, HEALTHY, 0.0)
    stack = main_of_stack(STATE, FACTS, f"bad{EVIL}")
    assert stack is not None
    for text in (page, stack):
        assert "<script" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_a_stack_page_lists_its_events_newest_first() -> None:
    stack = main_of_stack(STATE, FACTS, "web")
    assert stack is not None
    assert stack.index("succeeded") < stack.index("started") < stack.index("planned")
    assert "start: new stack" in stack
    assert main_of_stack(STATE, FACTS, "unknown") is None


def test_the_history_is_bounded_and_survives_the_state_file() -> None:
    many = tuple(HistoryEntry("web", Happening.STARTED, float(index), A) for index in range(250))
    history = kept((), many)
    assert len(history) == 200
    assert history[0].at == 50.0
    read = state_from_json(state_to_json(State(history=history)))
    assert read.unwrap().history == history


def test_an_old_state_file_without_history_reads_as_an_empty_one() -> None:
    old = '{"version": 1, "stacks": {}}'
    assert state_from_json(old).unwrap().history == ()


def test_a_malformed_history_is_refused() -> None:
    bad = '{"version": 1, "history": [{"stack": "x", "happening": "exploded", "at": 1}]}'
    assert "history[0].happening" in state_from_json(bad).failure()


@pytest.fixture
def served() -> Iterator[MetricsServer]:
    metrics = StateMetrics(STATE)
    page = StatusPage(lambda: metrics.state, FACTS, lambda: HEALTHY)
    server = serve("127.0.0.1", 0, metrics, page=page)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _get(server: MetricsServer, path: str) -> tuple[int, dict[str, str], str]:
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_the_server_serves_the_page_with_a_strict_policy(served: MetricsServer) -> None:
    code, headers, body = _get(served, "/")
    assert code == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert '<script src="/page.js"' in body
    assert "<script>" not in body
    code, headers, script = _get(served, "/page.js")
    assert code == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert "setTimeout(refresh, 5000)" in script
    code, _, fragment = _get(served, "/?part=main")
    assert code == 200
    assert "<html" not in fragment
    assert 'data-key="stack:web"' in fragment


def test_a_stack_page_is_served_and_an_unknown_one_is_not(served: MetricsServer) -> None:
    code, _, body = _get(served, "/stacks/web")
    assert code == 200
    assert "succeeded" in body
    code, _, body = _get(served, "/stacks/bad%3Cscript%3Ealert(1)%3C/script%3E")
    assert code == 200
    assert "&lt;script&gt;" in body
    code, _, body = _get(served, "/stacks/nothing-here")
    assert code == 404
    assert "nothing-here" in body


@pytest.mark.parametrize("path", ["/", "/page.js", "/stacks/web"])
def test_the_page_answers_another_method_with_405_naming_get(
    served: MetricsServer, path: str
) -> None:
    url = f"http://127.0.0.1:{served.server_address[1]}{path}"
    request = urllib.request.Request(url, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405
    assert refused.value.headers["Allow"] == "GET"
