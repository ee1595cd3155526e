"""Compose files read as Compose reads them (compose-go over yaml.v3), with either parser.

Each expected outcome below was checked against `docker compose config` (v2.40.3).
"""

from __future__ import annotations

import json
import re
import time
from functools import partial
from textwrap import dedent

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from gitops_compose.core.compose import compose_yaml
from gitops_compose.core.compose.compose_file import Role, compose_model
from gitops_compose.core.compose.compose_merge import merged
from gitops_compose.core.compose.parse_cache import ParseCache

LOADERS = {"libyaml": getattr(yaml, "CSafeLoader", None), "pure": compose_yaml.PURE_LOADER}


def _parsing(loader: type[yaml.SafeLoader] | None) -> ParseCache:
    if loader is None:
        pytest.fail("this PyYAML has no libyaml: the venv should have it")
    return ParseCache(lambda: partial(compose_yaml.documents, loader=loader))


PARSERS = {name: _parsing(loader) for name, loader in LOADERS.items()}
# Every test runs with libyaml's parser (the venv) and the pure one (gitops.pyz).
pytestmark = pytest.mark.parametrize("parsing", list(PARSERS.values()), ids=list(PARSERS))


def loaded(parsing: ParseCache, *files: str) -> dict[str, object]:
    found = merged([dedent(each).encode() for each in files], parsing.parse)
    assert isinstance(found, Success), found
    return dict(found.unwrap())


def refused(parsing: ParseCache, *files: str | bytes) -> str:
    raws = [each if isinstance(each, bytes) else dedent(each).encode() for each in files]
    found = merged(raws, parsing.parse)
    assert isinstance(found, Failure), found
    return str(found.failure())


def test_yaml_1_1_booleans_are_service_names_and_strings(parsing: ParseCache) -> None:
    found = compose_model(
        [b"services: {on: {image: a}, yes: {image: b}, n: {image: c}}\n"], parsing=parsing
    )
    assert [each.name for each in found.unwrap().services] == ["n", "on", "yes"]


@pytest.mark.parametrize(
    ("value", "role"),
    [
        ("yes", Role.DEPLOY),  # the string "yes", as Compose has it
        ("on", Role.DEPLOY),
        ('"True"', Role.DEPLOY),  # a string: the original compares with "true"
        ("True", Role.IGNORED),  # a boolean, which Compose writes "true"
        ("TRUE", Role.IGNORED),
        ("true", Role.IGNORED),
    ],
)
def test_ignore_label_is_true_only_for_compose_s_true(
    value: str, role: Role, parsing: ParseCache
) -> None:
    raw = f"services: {{web: {{image: a, labels: {{gitops.ignore: {value}}}}}}}\n".encode()
    assert compose_model([raw], parsing=parsing).unwrap().role is role


def test_scalars_follow_yaml_1_2_as_yaml_v3_resolves_them(parsing: ParseCache) -> None:
    found = loaded(
        parsing,
        """
        x-values:
          - [on, off, yes, no, y, n, True, FALSE, tRue]
          - [0o17, 0x1F, 017, 0b11, 1_000, +12, -0x10, 1:20, 12e3, .5, .inf, -.Inf]
          - [null, ~, "", Null, 'null']
          - [!!str 12, !!int "12", !!float 1, !custom 7, "0x1F"]
        services: {web: {image: a}}
    """,
    )
    assert found["x-values"][:3] == [  # type: ignore[index]
        ["on", "off", "yes", "no", "y", "n", True, False, "tRue"],
        [15, 31, 15, 3, 1000, 12, -16, "1:20", 12000.0, 0.5, float("inf"), float("-inf")],
        [None, None, "", None, "null"],
    ]
    assert found["x-values"][3] == ["12", 12, 1.0, "7", "0x1F"]  # type: ignore[index]


def test_anchors_aliases_and_merge_keys(parsing: ParseCache) -> None:
    found = loaded(
        parsing,
        """
        x-base: &base {image: app, restart: always, labels: [tier=back]}
        x-log: &log {logging: {driver: json-file}, restart: "no"}
        services:
          web:
            <<: *base
            image: web
          worker:
            <<: [*log, *base]
          same: *base
    """,
    )
    assert found["services"] == {
        "web": {"image": "web", "restart": "always", "labels": ["tier=back"]},
        # Keys written in the mapping win, then the first mapping merged.
        "worker": {"logging": {"driver": "json-file"}, "restart": "no", "image": "app",
                   "labels": ["tier=back"]},
        "same": {"image": "app", "restart": "always", "labels": ["tier=back"]},
    }  # fmt: skip


def test_documents_of_a_file_are_merged_in_order(parsing: ParseCache) -> None:
    found = loaded(
        parsing,
        """
        services:
          web: {image: a, command: [serve], environment: {A: "1"}}
        ---
        name: shop
        services:
          web: {command: [run], environment: [B=2]}
          db: {image: pg}
    """,
    )
    assert found == {
        "services": {
            "web": {"image": "a", "command": ["run"], "environment": ["A=1", "B=2"]},
            "db": {"image": "pg"},
        },
        "name": "shop",
    }


def test_reset_drops_and_override_replaces_a_value_when_merging(parsing: ParseCache) -> None:
    base = """
        services:
          web: {image: a, labels: {x: "1"}, ports: ["80:80"], environment: {A: "1", B: "2"}}
          debug: {image: busybox}
    """
    override = """
        services:
          web:
            labels: !reset {}
            ports: !reset []
            environment: !override {C: "3"}
          debug: !reset
    """
    assert loaded(parsing, base, override) == {
        "services": {"web": {"image": "a", "environment": {"C": "3"}}},
    }
    # The same, as two documents of one file; and a reset value is gone in its own file.
    assert loaded(parsing, dedent(base) + "---\n" + dedent(override)) == loaded(
        parsing, base, override
    )
    assert loaded(parsing, "services: {web: !reset {image: a}}\n") == {"services": {}}


def test_reset_in_an_override_file_removes_the_service_compose_would_not_start(
    parsing: ParseCache,
) -> None:
    found = compose_model([
        b"services: {web: {image: a}, debug: {image: b}}\n",
        b"services: {debug: !reset {}}\n",
    ], parsing=parsing)  # fmt: skip
    assert [each.name for each in found.unwrap().services] == ["web"]


def test_merge_leaves_what_aliases_share_unchanged(parsing: ParseCache) -> None:
    found = loaded(
        parsing,
        """
        x-env: &env {A: "1"}
        services:
          web: {image: a, environment: *env, deploy: {resources: *env}}
        ---
        services:
          web: {deploy: {resources: {B: "2"}}}
    """,
    )
    assert found["x-env"] == {"A": "1"}
    assert found["services"]["web"]["deploy"] == {"resources": {"A": "1", "B": "2"}}  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "services:\n  web: {image: a}\n  web: {image: b}\n",
            'mapping key "web" already defined at line 2 (line 3)',
        ),
        ("services:\n  1: {image: a}\n", "non-string key in services: 1"),
        ("services:\n  2024-01-01: {image: a}\n", "non-string key in services: 2024-01-01"),
        ("true: 1\n", "non-string key at top level: true"),
        ("", "empty compose file"),
        ("# nothing here\n", "empty compose file"),
        ("{}\n", "empty compose file"),
        ("- web\n", "top-level object must be a mapping"),
        ("services: {web: {image: a}}\n---\n", "top-level object must be a mapping"),
        ("services: {web: {image: *nope}}\n", "unknown anchor 'nope' referenced (line 1)"),
        ("services: {web: {image: !!int a}}\n", "cannot decode 'a' as !!int"),
        ("services:\n  web: [\n", "while parsing a flow node (line 3)"),
        ("services: {web: {image: a}}\n---\nservices: []\n", "cannot override services"),
    ],
)
def test_files_compose_refuses_give_its_reason(text: str, reason: str, parsing: ParseCache) -> None:
    assert refused(parsing, text) == reason


def test_an_empty_override_file_changes_nothing(parsing: ParseCache) -> None:
    assert loaded(parsing, "services: {web: {image: a}}\n", "") == {
        "services": {"web": {"image": "a"}}
    }


def test_a_byte_that_is_not_utf8_is_named_with_its_line(parsing: ParseCache) -> None:
    raw = "services:\n  web:\n    image: a\n    labels: {a: café}\n".encode("latin-1")
    assert refused(parsing, raw) == "byte 0xe9 is not UTF-8 text (line 4)"


def test_a_byte_order_mark_is_read_as_yaml_v3_does(parsing: ParseCache) -> None:
    text = "services: {web: {image: a}}\n"
    for raw in (
        b"\xef\xbb\xbf" + text.encode(),
        "\ufeff".encode("utf-16-le") + text.encode("utf-16-le"),
    ):
        assert merged([raw], parsing.parse).unwrap() == {"services": {"web": {"image": "a"}}}


def _bomb(section: str) -> bytes:
    lines = ['x-a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x-a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    body = "labels: *a9" if section == "labels" else "volumes: *a9"
    return ("\n".join(lines) + f"\nservices:\n  web:\n    image: a\n    {body}\n").encode()


@pytest.mark.parametrize("section", ["labels", "volumes"])
def test_an_alias_bomb_is_an_error_for_its_stack_in_well_under_a_second(
    section: str, parsing: ParseCache
) -> None:
    started = time.perf_counter()
    found = compose_model([_bomb(section)], parsing=parsing)
    assert time.perf_counter() - started < 0.5
    assert isinstance(found, Failure)
    assert found.failure().startswith(
        "invalid compose file: document contains excessive aliasing (over 100,000 nodes)"
    )


@pytest.mark.parametrize(
    "deep",
    ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000, "\n  " + "- " * 5000 + "x"],
    ids=["flow-sequences", "flow-mappings", "block-sequences"],
)  # fmt: skip
def test_a_5000_level_file_is_an_error_for_its_stack_in_under_a_second(
    deep: str, parsing: ParseCache
) -> None:
    raw = f"services:\n  web: {{image: a}}\nx-deep: {deep}\n".encode()
    started = time.perf_counter()
    found = compose_model([raw], parsing=parsing)
    assert time.perf_counter() - started < 1.0
    assert isinstance(found, Failure)
    # libyaml stops at its own limit first on one long line, with its own words.
    assert found.failure().startswith(
        ("invalid compose file: nesting deeper than 500 levels", "invalid compose file: while ")
    )


def test_nesting_up_to_the_bound_loads(parsing: ParseCache) -> None:
    deep = "[" * 499 + "]" * 499
    found = loaded(parsing, f"services: {{web: {{image: a}}}}\nx-deep: {deep}\n")
    assert "x-deep" in found


def test_a_file_over_the_size_bound_is_an_error(parsing: ParseCache) -> None:
    raw = b"services: {web: {image: a}}\nx-big: '" + b"a" * compose_yaml.MAX_BYTES + b"'\n"
    assert refused(parsing, raw) == "the file is larger than 1 MiB"


# Documents every YAML 1.2 loader reads alike: strings that no resolver takes for another
# type (letters first, none of the YAML 1.1 or 1.2 words), integers, booleans, null.
WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}
SAFE_TEXT = st.from_regex(r"[a-zA-Z][a-zA-Z0-9 _./-]{0,8}", fullmatch=True).filter(
    lambda text: text.lower() not in WORDS and text == text.strip()
)
SAFE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | SAFE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SAFE_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(SAFE_TEXT, SAFE, min_size=1, max_size=5), st.sampled_from(["json", "block"]))
def test_yaml_1_2_safe_documents_load_as_written(
    parsing: ParseCache, document: dict[str, object], style: str
) -> None:
    if style == "json":
        text = json.dumps(document)
    else:
        text = yaml.safe_dump(document, default_flow_style=False, sort_keys=False)
    assert merged([text.encode()], parsing.parse).unwrap() == document


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_any_bytes_give_documents_or_a_reason_and_finish_fast(
    parsing: ParseCache, raw: bytes
) -> None:
    started = time.perf_counter()
    found = merged([raw], parsing.parse)
    assert time.perf_counter() - started < 0.5
    assert isinstance(found, Success | Failure)
    if isinstance(found, Failure):
        assert found.failure()
        assert "\n" not in found.failure()


# Without "?", "!", "|" and ">": PyYAML's pure scanner and libyaml differ on a few odd
# headers none of them a Compose file needs (a tag ending at a flow indicator, "? !,"; a
# block scalar header before a comment, "? |#"); see docs/stacks.md, YAML. Nor a plain key
# whose ":" meets a flow indicator ("{a:}"): libyaml refuses what YAML 1.2 reads as null.
_COLON_AT_FLOW_INDICATOR = re.compile(r"[^\s\"':]:[]},]")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab: -[]{},\n&*<#'\"~01.", max_size=40))
def test_libyaml_and_the_pure_parser_read_alike(parsing: ParseCache, text: str) -> None:
    """The venv (libyaml) and gitops.pyz (pure Python) load the same values."""
    assume(not _COLON_AT_FLOW_INDICATOR.search(text))
    results = [merged([text.encode()], each.parse) for each in (parsing, PARSERS["pure"])]
    assert [isinstance(each, Success) for each in results] in ([True, True], [False, False])
    if isinstance(results[0], Success):
        assert results[0].unwrap() == results[1].unwrap()


def test_a_question_mark_inside_a_flow_scalar_is_part_of_it_as_in_yaml_1_2(
    parsing: ParseCache,
) -> None:
    # PyYAML's own pure scanner ended the scalar there (YAML 1.1): {a?} did not load.
    assert merged([b"services: {web: {image: a?, labels: [x?y]}}"], parsing.parse).unwrap() == {
        "services": {"web": {"image": "a?", "labels": ["x?y"]}}
    }
