"""The core's frozen records (core/value.py) behave as frozen dataclasses did."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from gitops_compose.core.value import FrozenValueError, Value, field, replace


class Heads(Value):
    local: str
    remote: str = "origin"
    seen: dict[str, int] = field(default_factory=dict)


def test_values_compare_and_show_by_their_fields() -> None:
    assert Heads("a") == Heads("a", "origin")
    assert Heads("a") != Heads("b")
    assert repr(Heads("a")) == "Heads(local='a', remote='origin', seen={})"
    match Heads("x", "y"):
        case Heads(local, remote):
            assert (local, remote) == ("x", "y")


def test_values_never_change_and_replace_makes_a_copy() -> None:
    heads = Heads("a")
    with pytest.raises(FrozenValueError):
        heads.local = "b"  # type: ignore[misc]
    moved = replace(heads, remote="upstream")
    assert (heads.remote, moved.remote, moved.local) == ("origin", "upstream", "a")
    with pytest.raises(TypeError, match="no field"):
        replace(heads, branch="main")


def test_a_default_factory_makes_a_new_value_each_time() -> None:
    first, second = Heads("a"), Heads("b")
    assert first.seen == {}
    assert first.seen is not second.seen


def test_a_dataclasses_field_is_refused_where_it_would_become_the_default() -> None:
    with pytest.raises(TypeError, match=r"core\.value\.field"):

        class Wrong(Value):
            names: list[str] = dataclasses.field(default_factory=list)


def test_values_survive_pickling() -> None:
    assert pickle.loads(pickle.dumps(Heads("a", "b"))) == Heads("a", "b")


class Pair(Value):
    left: str
    right: int


def test_equal_values_hash_alike() -> None:
    assert len({Pair("a", 1), Pair("a", 1), Pair("b", 1)}) == 2
