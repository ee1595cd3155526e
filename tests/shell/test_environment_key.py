"""The host's key for its environment's values: made once, owner-only, and what it makes of
the values says nothing of them."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gitops_compose.shell.environment_key import KEY_NAME, environment_key, keyed


def test_the_key_is_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    first = environment_key(tmp_path / "state")
    path = tmp_path / "state" / KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert environment_key(tmp_path / "state") == first
    assert sorted(each.name for each in path.parent.iterdir()) == [KEY_NAME]


def test_a_run_that_writes_nothing_makes_no_key(tmp_path: Path) -> None:
    environment_key(tmp_path, make=False)
    assert list(tmp_path.iterdir()) == []
    made = environment_key(tmp_path)
    assert environment_key(tmp_path, make=False) == made


def test_a_state_directory_that_is_a_file_gets_a_key_of_its_own(tmp_path: Path) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("not a directory")
    assert environment_key(blocked) != environment_key(blocked)


@given(value=st.text(), other=st.text())
def test_digests_tell_values_apart_and_hide_them(value: str, other: str) -> None:
    key, another_key = b"k" * 32, b"j" * 32
    digest = keyed({"PASSWORD": value}, key)["PASSWORD"]
    assert keyed({"PASSWORD": value}, key)["PASSWORD"] == digest
    assert (keyed({"PASSWORD": other}, key)["PASSWORD"] == digest) == (other == value)
    assert keyed({"PASSWORD": value}, another_key)["PASSWORD"] != digest
    assert digest != hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
