"""The edit property: a commit that changes only one file restarts exactly the stacks that
Compose reads that file for, and no other.

Generated repositories: stacks built from the keys that name files (``env_file``,
``label_file``, bind sources and devices, configs, build contexts and Dockerfiles, an
``extends`` chain across directories, an ``include`` with or without a project directory),
over one pool of shared files, some of which no stack reads. Each choice knows which files
Compose reads for it (the rules checked against ``docker compose config``): that is the
expectation the plan is held to, for every file of the repository. Then Compose's own
loader test files, copied at test time into a repository of one stack each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_compose.core.reconcile.plan import Verb

from .builders import facts, planned, stacks

# The shared files of every generated repository, whether a stack reads them or not.
SHARED = {
    "shared/common.env": "TZ=UTC\n",
    "shared/other.env": "UNUSED=1\n",
    "shared/web.labels": "tier=front\n",
    "shared/conf/site.conf": "listen 80;\n",
    "shared/conf/extra/gzip.conf": "gzip on;\n",
    "shared/data/seed.sql": "select 1;\n",
    "shared/site.conf": "x\n",
    "src/api/main.py": "print(1)\n",
    "src/api/Dockerfile": "FROM python\n",
    "docker/api.Dockerfile": "FROM python\n",
    "docker/other.Dockerfile": "FROM python\n",
    "base/base.yml": (
        "services:\n"
        "  web:\n"
        "    extends: {file: ../core/core.yml, service: core}\n"
        "    env_file: web.env\n"
        "    label_file: web.labels\n"
        "  worker: {image: busybox, env_file: worker.env}\n"
    ),
    "base/web.env": "A=1\n",
    "base/web.labels": "a=1\n",
    "base/worker.env": "W=1\n",
    "core/core.yml": "services:\n  core: {image: nginx, volumes: ['./html:/html']}\n",
    "core/html/index.html": "<h1/>\n",
    "core/notes.txt": "not read\n",
    "lib/cache.yaml": (
        "services:\n  cache: {image: redis, env_file: cache.env, volumes: ['./data:/data']}\n"
    ),
    "lib/cache.env": "C=1\n",
    "lib/data/dump.rdb": "x\n",
    "lib/.env": "PORT=6379\n",
    "lib/proj/cache.env": "C=2\n",
    "lib/proj/data/dump.rdb": "y\n",
    "lib/proj/.env": "PORT=6380\n",
}

# Each choice: the service settings or top-level sections it adds, and the files Compose
# reads for it.
FEATURES: dict[str, tuple[dict[str, object], dict[str, object], frozenset[str]]] = {
    "env_file": ({"env_file": ["../shared/common.env"]}, {}, frozenset({"shared/common.env"})),
    "env_file_long": (
        {"env_file": [{"path": "../shared/common.env", "required": False}]},
        {},
        frozenset({"shared/common.env"}),
    ),
    "label_file": ({"label_file": "../shared/web.labels"}, {}, frozenset({"shared/web.labels"})),
    "bind": (
        {"volumes": ["../shared/conf:/etc/nginx/conf.d:ro"]},
        {},
        frozenset({"shared/conf/site.conf", "shared/conf/extra/gzip.conf"}),
    ),
    "bind_long": (
        {"volumes": [{"type": "bind", "source": "../shared/conf/extra", "target": "/x"}]},
        {},
        frozenset({"shared/conf/extra/gzip.conf"}),
    ),
    "device": (
        {"volumes": ["seed:/seed"]},
        {"volumes": {"seed": {"driver_opts": {"o": "bind", "device": "../shared/data"}}}},
        frozenset({"shared/data/seed.sql"}),
    ),
    "config": (
        {"configs": ["site"]},
        {"configs": {"site": {"file": "../shared/site.conf"}}},
        frozenset({"shared/site.conf"}),
    ),
    "build": (
        {"build": "../src/api"},
        {},
        frozenset({"src/api/main.py", "src/api/Dockerfile"}),
    ),
    "build_dockerfile": (
        {"build": {"context": "../src/api", "dockerfile": "../../docker/api.Dockerfile"}},
        {},
        frozenset({"src/api/main.py", "src/api/Dockerfile", "docker/api.Dockerfile"}),
    ),
    "extends": (
        {"extends": {"file": "../base/base.yml", "service": "web"}},
        {},
        frozenset(
            {
                "base/base.yml",
                "base/web.env",
                "base/web.labels",
                "core/core.yml",
                "core/html/index.html",
            }
        ),
    ),
    "include": (
        {},
        {"include": ["../lib/cache.yaml"]},
        frozenset({"lib/cache.yaml", "lib/cache.env", "lib/data/dump.rdb", "lib/.env"}),
    ),
    "include_project_directory": (
        {},
        {"include": [{"path": "../lib/cache.yaml", "project_directory": "../lib/proj"}]},
        frozenset(
            {"lib/cache.yaml", "lib/proj/cache.env", "lib/proj/data/dump.rdb", "lib/proj/.env"}
        ),
    ),
}

# Stack directories: side by side, so that a stack owns only its own directory.
PATHS = ("shop", "blog", "apps/api")


def render(choices: dict[str, tuple[str, ...]]) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The repository, and for each stack the files Compose reads for it."""
    files = dict(SHARED)
    reads: dict[str, set[str]] = {}
    for path, features in choices.items():
        up = "../" * path.count("/")
        body: dict[str, object] = {"image": "registry.local/app:1"}
        document: dict[str, object] = {}
        read = {f"{path}/compose.yaml", f"{path}/.env"}
        for feature in features:
            service, top, named = FEATURES[feature]
            for key, value in service.items():
                _add(body, key, _deeper(value, up))
            for key, value in top.items():
                _add(document, key, _deeper(value, up))
            read |= named
        if "build" in body or "extends" in body:
            del body["image"]  # built here (its context counts), or the extended one's
        if "build" in body and "extends" in body:
            body["pull_policy"] = "build"  # else the extended image is pulled, not built
        document["services"] = {"app": body}
        files[f"{path}/compose.yaml"] = json.dumps(document)
        files[f"{path}/.env"] = "TAG=1\n"
        reads[path] = read
    return files, reads


def _add(section: dict[str, object], key: str, value: object) -> None:
    """Two choices may both give a list (volumes) or mapping (configs): both count."""
    present = section.get(key)
    if isinstance(present, list) and isinstance(value, list):
        section[key] = [*present, *value]
    elif isinstance(present, dict) and isinstance(value, dict):
        section[key] = {**present, **value}
    else:
        section[key] = value


def _deeper(value: object, up: str) -> object:
    """``../x`` written from a stack one directory deeper: ``../../x``."""
    if isinstance(value, str):
        return value.replace("../", f"../{up}", 1) if value.startswith("../") else value
    if isinstance(value, list):
        return [_deeper(each, up) for each in value]
    if isinstance(value, dict):
        # A Dockerfile is relative to its context, not to the stack.
        return {
            key: each if key == "dockerfile" else _deeper(each, up) for key, each in value.items()
        }
    return value


def restarted_by(files: dict[str, str], path: str) -> set[str]:
    after = {**files, path: files[path] + "\n# edited\n"}
    found = planned(facts(files, after)).stack_actions
    assert {each.verb for each in found} <= {Verb.RESTART}
    return {each.stack for each in found}


# Choices that would set one key twice: a stack takes one of each pair.
EXCLUSIVE = ({"build", "build_dockerfile"}, {"include", "include_project_directory"})

repositories = st.dictionaries(
    st.sampled_from(PATHS),
    st.lists(st.sampled_from(sorted(FEATURES)), max_size=4, unique=True)
    .filter(lambda chosen: all(len(pair & set(chosen)) < 2 for pair in EXCLUSIVE))
    .map(tuple),
    min_size=1,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(repositories)
def test_an_edit_of_one_file_restarts_exactly_the_stacks_compose_reads_it_for(
    choices: dict[str, tuple[str, ...]],
) -> None:
    files, reads = render(choices)
    assert not stacks(files).broken
    for path in sorted(files):
        expected = {stack for stack, read in reads.items() if path in read}
        assert restarted_by(files, path) == expected, path


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_each_key_alone_counts_its_files_and_no_other(feature: str) -> None:
    files, reads = render({"shop": (feature,)})
    for path in sorted(files):
        assert restarted_by(files, path) == ({"shop"} if path in reads["shop"] else set()), path


# --- Compose's own loader test files --------------------------------------------------------

CORPUS = Path("/work/shared/compose-corpus/compose-go")


def corpus_repository() -> dict[str, str]:
    """The corpus under ``corpus/``, and a stack including each of its Compose files."""
    assert CORPUS.is_dir(), f"the compose-go corpus is missing at {CORPUS}"
    files = {
        f"corpus/{each.relative_to(CORPUS).as_posix()}": each.read_text(errors="replace")
        for each in sorted(CORPUS.rglob("*"))
        if each.is_file()
    }
    for path in [p for p in files if p.endswith((".yaml", ".yml"))]:
        slug = path.removeprefix("corpus/").rsplit(".", 1)[0].replace("/", "_").replace(" ", "_")
        files[f"stacks/{slug}/compose.yaml"] = f"include: [../../{path}]\n"
    return files


def test_an_edit_of_a_corpus_file_restarts_the_stacks_that_read_it_and_no_other() -> None:
    files = corpus_repository()
    found = stacks(files)
    assert len(found.valid) >= 25, sorted(found.broken.items())
    for path in sorted(p for p in files if p.startswith("corpus/")):
        expected = {stack for stack, each in found.valid.items() if path in each.files}
        assert restarted_by(files, path) == expected, path


def test_corpus_stacks_read_the_files_compose_reads_for_them() -> None:
    found = stacks(corpus_repository()).valid
    extends = found["stacks/loader_testdata_compose-test-extends"]
    # "expected to be loaded relative to this file, not the extending one"
    assert {
        "corpus/loader/testdata/subdir/compose-test-extends-imported.yaml",
        "corpus/loader/testdata/subdir/extra.env",
    } <= set(extends.files)
    combined = found["stacks/loader_testdata_combined_compose"]
    assert {
        "corpus/loader/testdata/combined/dir/included.yaml",
        "corpus/loader/testdata/combined/dir/extended.yaml",
    } <= set(combined.files)
    assert combined.builds
