"""Where the core and Compose disagree on a stack, and the list of disagreements known.

Aspects compared (each one line of ``known_differences.toml`` when they differ):

- ``loads``: the core's ``Stacks.valid`` against ``config``'s exit status;
- when both load: ``project`` (the name; a stack without ``name:`` is named by its path,
  by design, where Compose without ``-p`` takes the directory's name), ``services`` (every
  service, any profile), ``started`` (those ``up`` starts with the default profiles and
  a scale above 0), ``role`` (from the ``gitops.*`` labels, read by the product's rule from
  Compose's label strings), ``files missed`` (files Compose reads that the core does not
  count) and ``files extra`` (files the core counts that Compose does not read, outside
  the stack's own directory: a stack owns every file below it by design).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from posixpath import basename
from typing import final

from gitops_compose.core.compose.compose_file import CONTROLLER_LABEL, IGNORE_LABEL, Role
from gitops_compose.core.compose.stack import project_name

from .compose_view import ComposeView
from .core_view import ROOT_NAME, CoreView

KNOWN = Path(__file__).resolve().parent / "known_differences.toml"


@final
@dataclass(frozen=True, slots=True, order=True)
class Difference:
    case: str
    aspect: str
    core: str
    compose: str


def differences(
    case: str, stack: str, core: CoreView, compose: ComposeView
) -> Iterator[Difference]:
    if core.loads != compose.loads:
        yield Difference(case, "loads", _loads(core.loads), _loads(compose.loads))
        return
    if not core.loads:
        return
    if not _same_project(stack, core.project, compose.project):
        yield Difference(case, "project", str(core.project), str(compose.project))
    if core.services != compose.services:
        yield Difference(case, "services", _listed(core.services), _listed(compose.services))
    if core.started != compose.started:
        yield Difference(case, "started", _listed(core.started), _listed(compose.started))
    role = _role(compose.labels)
    if core.role is not role:
        yield Difference(case, "role", str(core.role and core.role.value), role.value)
    missed = compose.files - core.files
    if missed:
        yield Difference(case, "files missed", "not counted", _listed(missed))
    extra = core.files - compose.files - core.owned
    if extra:
        yield Difference(case, "files extra", _listed(extra), "not read")


def known() -> list[Difference]:
    listed = tomllib.loads(KNOWN.read_text()).get("difference", [])
    return [
        Difference(each["case"], each["aspect"], each["core"], each["compose"]) for each in listed
    ]


def reasons() -> Mapping[Difference, str]:
    listed = tomllib.loads(KNOWN.read_text()).get("difference", [])
    return {
        Difference(each["case"], each["aspect"], each["core"], each["compose"]): each["reason"]
        for each in listed
    }


def as_toml(found: Difference, reason: str = "") -> str:
    """One entry of the known list, as it is written there."""
    return "\n".join(
        [
            "[[difference]]",
            f"case = {_quoted(found.case)}",
            f"aspect = {_quoted(found.aspect)}",
            f"core = {_quoted(found.core)}",
            f"compose = {_quoted(found.compose)}",
            f"reason = {_quoted(reason)}",
        ]
    )


def _same_project(stack: str, core: str | None, compose: str | None) -> bool:
    if core == compose:
        return True
    # Without name:, Compose names the project after its directory, the core after its path.
    by_directory = project_name(basename(stack), None, ROOT_NAME).value_or(None)
    by_path = project_name(stack, None, ROOT_NAME).value_or(None)
    return compose == by_directory and core == by_path


def _role(labels: Mapping[str, Mapping[str, str]]) -> Role:
    def said(key: str) -> bool:
        return any(each.get(key, "").strip().lower() == "true" for each in labels.values())

    if said(CONTROLLER_LABEL):
        return Role.CONTROLLER
    if said(IGNORE_LABEL):
        return Role.IGNORED
    return Role.DEPLOY


def _loads(loads: bool) -> str:
    return "loads" if loads else "rejected"


def _listed(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
