"""The reference pages against the code, so that the documentation cannot drift.

- docs/configuration.md: the options of the usage text (``gitops.pyz --help``), with their
  argument and default, and every environment variable the code reads;
- docs/metrics.md: every metric family the daemon serves, with its type and labels.

Each comparison fails on a difference either way: something the code has that the page
does not say, or something the page says that the code does not have. A page states them
in tables whose first column holds the option, variable or series in backticks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from gitops_compose.core.reconcile.forge import Forge, ForgeTarget
from gitops_compose.core.reconcile.notice import NotifyOn
from gitops_compose.core.reconcile.state import Counters, State
from gitops_compose.core.reconcile.status import StackStatus, Status
from gitops_compose.shell import cli, commands, environment
from gitops_compose.shell.commit_statuses import CommitStatuses, StatusSettings
from gitops_compose.shell.due import Due
from gitops_compose.shell.metrics import StateMetrics
from gitops_compose.shell.notifier import Notifier, NotifySettings
from gitops_compose.shell.webhook import Webhook

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Where the product reads its environment: the package and the zipapp's bootstrap.
SOURCES = (ROOT / "gitops_compose", ROOT / "pyz_boot")


# --- reading the pages ------------------------------------------------------------------


def section(page: str, heading: str) -> str:
    """The text under a ``## heading`` of a page, up to the next heading of that level."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert found is not None, f"{page} has no section '## {heading}'"
    return found.group(1)


def rows(text: str) -> Iterator[list[str]]:
    """The cells of each body row of the Markdown tables in text (header and rule left
    out); ``\\|`` inside a cell is a ``|``."""
    line_of_table = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("|"):
            line_of_table = 0
            continue
        line_of_table += 1
        if line_of_table > 2:  # the header, then the rule
            cells = re.split(r"(?<!\\)\|", line[1:-1])
            yield [cell.strip().replace("\\|", "|") for cell in cells]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# --- options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    argument: str | None  # PATH, SECONDS, ...; None for a switch
    default: str | None


def usage_options() -> dict[str, Option]:
    """Each option of the usage text's ``Options:`` section, as docopt reads it: a line
    that starts with the option's names and argument, its description up to the next such
    line, with ``[default: ...]`` in it."""
    block = cli.__doc__.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    options: dict[str, Option] = {}
    for entry in re.split(r"\n(?=  -)", block):
        declared = entry.strip().split("  ", 1)[0]
        argument = next((word for word in declared.split() if not word.startswith("-")), None)
        default = re.search(r"\[default: ([^]]*)\]", entry)
        for name in (word for word in declared.split() if word.startswith("-")):
            options[name] = Option(argument, default.group(1) if default else None)
    return options


def documented_options() -> dict[str, Option]:
    """Each option of the Options table of docs/configuration.md: ``--repo PATH``, or
    ``-v``, ``--verbose`` for two names of one switch; the default in backticks."""
    options: dict[str, Option] = {}
    for cells in rows(section("configuration.md", "Options")):
        defaults = code_spans(cells[1])
        for span in code_spans(cells[0]):
            name, _, argument = span.partition(" ")
            options[name] = Option(argument or None, defaults[0] if defaults else None)
    return options


def test_the_configuration_page_documents_every_option_and_no_other() -> None:
    accepted, documented = usage_options(), documented_options()
    assert len(accepted) > 20, "the usage text's options were not found"
    assert sorted(set(accepted) - set(documented)) == [], "options not on the page"
    assert sorted(set(documented) - set(accepted)) == [], "options the CLI does not take"


@pytest.mark.parametrize("name", sorted(usage_options()))
def test_the_configuration_page_gives_each_option_its_argument_and_default(name: str) -> None:
    accepted = usage_options()[name]
    documented = documented_options().get(name)
    assert documented is not None, f"{name} is not on the page"
    assert documented.argument == accepted.argument
    if accepted.default is not None:
        assert documented.default == accepted.default


# --- environment variables --------------------------------------------------------------


def _constants(tree: ast.Module) -> dict[str, str]:
    """A module's top-level names bound to a string: ``CACHE_ENV = "GITOPS_CACHE_DIR"``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _is_environ(node: ast.expr) -> bool:
    """``os.environ`` or a parameter named ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def variables_read() -> set[str]:
    """Every environment variable the product reads by name: ``os.environ.get(NAME)``,
    ``os.environ[NAME]``, ``os.getenv(NAME)`` with NAME a string or a module constant, and
    the original's variables, which environment.py reads from its tables."""
    names = {*environment.VALUED, *environment.SWITCHES, commands.SECRET_VARIABLE}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = _constants(tree)
            for node in ast.walk(tree):
                key: ast.expr | None = None
                if isinstance(node, ast.Call) and node.args:
                    func = node.func
                    if isinstance(func, ast.Attribute) and (
                        (func.attr == "get" and _is_environ(func.value)) or func.attr == "getenv"
                    ):
                        key = node.args[0]
                elif isinstance(node, ast.Subscript) and _is_environ(node.value):
                    key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    names.add(key.value)
                elif isinstance(key, ast.Name) and key.id in constants:
                    names.add(constants[key.id])
    return names


def documented_variables() -> dict[str, str]:
    """Each variable of the tables of the Environment variables section, and what its row
    says of it."""
    return {
        span: " ".join(cells[1:])
        for cells in rows(section("configuration.md", "Environment variables"))
        for span in code_spans(cells[0])
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", span)
    }


def test_the_configuration_page_documents_every_environment_variable_and_no_other() -> None:
    read, documented = variables_read(), set(documented_variables())
    assert {"REPOSITORY_PATH", "GITOPS_CACHE_DIR"} <= read, "the scan found too little"
    assert sorted(read - documented) == [], "variables read but not on the page"
    assert sorted(documented - read) == [], "variables on the page that nothing reads"


def test_each_variable_of_the_original_names_the_option_it_stands_for() -> None:
    documented = documented_variables()
    stands_for = {
        **environment.VALUED,
        **{name: option for name, (option, _) in environment.SWITCHES.items()},
    }
    wrong = {
        name: option
        for name, option in stands_for.items()
        if f"`{option}`" not in documented.get(name, "")
    }
    assert wrong == {}


# --- metrics ----------------------------------------------------------------------------

_SUFFIX = {"counter": "_total", "info": "_info"}


@dataclass(frozen=True)
class Family:
    kind: str
    labels: frozenset[str]
    # Label name -> the values the page enumerates (or the registry shows) for it.
    values: dict[str, frozenset[str]]


def _served_families() -> Iterator[Metric]:
    """What the daemon's /metrics draws: the state's families, and the webhook's counter
    registered beside them, as deploy.py registers it; from a state with one stack, so the
    per-stack families have their labels."""
    record = StackStatus(
        "app",
        Status.OK,
        commit="0" * 40,
        images=(("web", "sha256:" + "1" * 64),),
        digests=(("web", "app@sha256:" + "2" * 64),),
    )
    metrics = StateMetrics(State(counters=Counters(check_success=1), stacks={"app": record}))
    metrics.live.register(Webhook(b"secret", "main", Due()))
    metrics.live.register(
        Notifier(NotifySettings(("json://127.0.0.1/",), NotifyOn.FAILURES, 1.0, "host"))
    )
    target = ForgeTarget(Forge.GITHUB, "https://api.github.com", "owner/name")
    metrics.live.register(CommitStatuses(StatusSettings(target, "token", "host", 1.0)))
    yield from metrics.registry.collect()
    yield from metrics.live.collect()


def served() -> dict[str, Family]:
    families: dict[str, Family] = {}
    for metric in _served_families():
        values: dict[str, set[str]] = {}
        for sample in metric.samples:
            for label, value in sample.labels.items():
                values.setdefault(label, set()).add(value)
        name = metric.name + _SUFFIX.get(metric.type, "")
        families[name] = Family(
            metric.type,
            frozenset(values),
            {label: frozenset(each) for label, each in values.items()},
        )
    return families


def documented_families() -> dict[str, Family]:
    """Each row of docs/metrics.md's tables whose first cell is a series:
    ``name{label,label}`` or ``name{label="a"|"b"}``, its type in the second cell."""
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    families: dict[str, Family] = {}
    for cells in rows(text):
        spans = code_spans(cells[0])
        if not spans or not spans[0].startswith("gitops_"):
            continue
        found = re.fullmatch(r"(\w+)(?:\{(.*)\})?", spans[0])
        assert found is not None, f"not a series: {spans[0]}"
        name, labels = found.group(1), found.group(2)
        values: dict[str, frozenset[str]] = {}
        for label in re.split(r",(?=\s*\w+(?:=|,|$))", labels or ""):
            key, _, enumerated = label.strip().partition("=")
            if key:
                values[key] = frozenset(re.findall(r'"([^"]*)"', enumerated))
        assert name not in families, f"{name} is documented twice"
        families[name] = Family(cells[1].strip(), frozenset(values), values)
    return families


def test_the_metrics_page_documents_every_family_served_and_no_other() -> None:
    served_names, documented = set(served()), set(documented_families())
    assert len(served_names) > 15, "the registry drew too few families"
    assert sorted(served_names - documented) == [], "families served but not on the page"
    assert sorted(documented - served_names) == [], "families on the page the daemon lacks"


@pytest.mark.parametrize("name", sorted(served()))
def test_the_metrics_page_gives_each_family_its_type_and_labels(name: str) -> None:
    family = served()[name]
    documented = documented_families().get(name)
    assert documented is not None, f"{name} is not on the page"
    assert documented.kind == family.kind
    assert documented.labels == family.labels
    for label, values in documented.values.items():
        if values:  # the page enumerates them: exactly those the daemon sends
            assert values == family.values[label], label


def test_every_family_the_code_defines_is_one_the_test_draws() -> None:
    """A family defined anywhere in the package (``CounterMetricFamily("name", ...)``, or a
    prometheus_client ``Counter("name", ...)``) is drawn by _served_families: otherwise a new
    family could go undocumented without this file noticing."""
    kinds = {"Counter", "Gauge", "Info", "Histogram", "Summary", "Enum"}
    defined: set[str] = set()
    for path in sorted((ROOT / "gitops_compose").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (called in kinds or called.endswith("MetricFamily")) and isinstance(
                first, ast.Constant
            ):
                defined.add(str(first.value))
    drawn = {metric.name for metric in _served_families()}
    assert defined, "the scan found no family"
    assert sorted(defined - drawn) == []
