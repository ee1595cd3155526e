"""The Compose files the suite tries, each as one stack of a repository of its own.

Two sources:

- Compose's own loader test files (compose-go, read-only, outside the project): each YAML
  file becomes the ``compose.yaml`` of its directory in a copy of the whole corpus, so the
  files it names are at the same relative places;
- the cases under ``cases/``: each directory is a repository whose stack is ``app/``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import final

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
REPO_ROOT = HERE.parents[1]


def _corpus() -> Path:
    """Where the corpus lives: beside the checkout (``../shared``), or beside the checkout
    this one was cloned from (a clone for CI in /tmp); GITOPS_COMPOSE_CORPUS names
    another place."""
    named = os.environ.get("GITOPS_COMPOSE_CORPUS")
    if named:
        return Path(named)
    beside = [REPO_ROOT.parent]
    origin = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin and "://" not in origin and Path(origin).is_dir():
        beside.append(Path(origin).resolve().parent)
    found = [each / "shared" / "compose-corpus" / "compose-go" for each in beside]
    return next((each for each in found if each.is_dir()), found[0])


CORPUS = _corpus()
STACK_OF_CASES = "app"


@final
@dataclass(frozen=True, slots=True)
class Case:
    name: str  # compose-go/<path of the file>, or cases/<directory>
    stack: str  # the stack's directory in the repository
    tree: Mapping[str, bytes]  # repository path -> contents


def case_names() -> list[str]:
    """Every case, by name, without reading any file: what pytest parametrizes over."""
    names = [f"cases/{each.name}" for each in sorted(CASES.iterdir()) if each.is_dir()]
    if CORPUS.is_dir():
        names += [f"compose-go/{each}" for each in _corpus_compose_files()]
    return names


def case(name: str) -> Case:
    source, _, rest = name.partition("/")
    if source == "cases":
        return Case(name, STACK_OF_CASES, _tree(CASES / rest))
    tree = dict(_tree(CORPUS))
    directory, _, _ = rest.rpartition("/")
    stack = directory or "."
    tree[f"{directory}/compose.yaml" if directory else "compose.yaml"] = tree[rest]
    return Case(name, stack, tree)


def _corpus_compose_files() -> list[str]:
    return sorted(
        path.relative_to(CORPUS).as_posix()
        for path in CORPUS.rglob("*")
        if path.is_file() and path.suffix in (".yaml", ".yml")
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
