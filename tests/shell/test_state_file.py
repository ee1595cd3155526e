"""The state file is read in one place: a check and ``status`` see the same state, and
refuse the same files."""

from __future__ import annotations

from pathlib import Path

import pytest
from returns.result import Failure, Success

from gitops_compose.core.reconcile.state import Counters, State, state_to_json
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.shell.state_file import STATE_NAME, load_state, read_state, save_state


def test_no_file_is_a_fresh_start(tmp_path: Path) -> None:
    assert read_state(tmp_path) == Success(State())
    assert load_state(tmp_path) == (State(), None)


def test_a_saved_state_reads_back_as_it_was(tmp_path: Path) -> None:
    state = State(
        full_pass_done=True,
        counters=Counters(check_success=3),
        stacks={"app": StackStatus("app", Status.OK, fingerprint="f", commit="c")},
    )
    save_state(tmp_path, state)
    assert read_state(tmp_path) == Success(state)
    assert load_state(tmp_path) == (state, None)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"version": 1, "stacks": [1]}', "malformed state (stacks: expected an object"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"version": 99}', "written by a newer gitops-compose"),
    ],
    ids=["wrong shape", "not utf-8", "newer"],
)
def test_a_file_that_is_no_state_is_refused_alike_and_set_aside_only_by_a_check(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / STATE_NAME
    path.write_bytes(content)
    read = read_state(tmp_path)
    assert isinstance(read, Failure)
    assert why in read.failure().why
    assert not read.failure().unreadable
    state, warning = load_state(tmp_path, set_aside=False)
    assert state == State()
    assert warning is not None
    assert why in warning
    assert path.read_bytes() == content  # only read
    state, warning = load_state(tmp_path)
    assert state == State()
    assert warning is not None
    assert "moved it to state.json.unusable-" in warning
    assert not path.exists()
    [aside] = tmp_path.glob(f"{STATE_NAME}.unusable-*")
    assert aside.read_bytes() == content


def test_a_file_that_cannot_be_read_says_what_the_system_said(tmp_path: Path) -> None:
    (tmp_path / STATE_NAME).mkdir()
    read = read_state(tmp_path)
    assert isinstance(read, Failure)
    assert read.failure().unreadable
    assert read.failure().why == "Is a directory"
    assert read.failure().path == tmp_path / STATE_NAME


def test_the_json_written_is_what_is_read(tmp_path: Path) -> None:
    (tmp_path / STATE_NAME).write_text(state_to_json(State(ignored=2)))
    assert read_state(tmp_path) == Success(State(ignored=2))
