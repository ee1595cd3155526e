"""The functional core does no I/O and keeps no hidden state: no module of gitops_compose.core
imports one that could do I/O or probe the environment, keeps a cache of its own, or asks
what is installed. Caches and the choice of a YAML parser are values the shell passes in
(see core/compose/parse_cache.py)."""

import ast
from pathlib import Path

import pytest

import gitops_compose.core

CORE = Path(gitops_compose.core.__file__).parent
FORBIDDEN = frozenset(
    {
        "subprocess",
        "os",
        "socket",
        "threading",
        "time",
        "pygit2",
        "prometheus_client",
        "gitops_compose.shell",
        "random",
        "datetime",
        "pathlib",
        "shutil",
        "io",
        # The environment: what runs, what is installed, what the platform is.
        "sys",
        "importlib",
        "platform",
        "sysconfig",
        "ctypes",
    }
)


def forbidden_imports(source: str, module: str = "gitops_compose.core") -> list[str]:
    """Every import in ``source`` (at any depth, inside functions too) of a forbidden module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            if _is_forbidden(base):
                found.append(base)
            else:  # from gitops_compose import shell
                names = (f"{base}.{alias.name}" for alias in node.names)
                found += [name for name in names if _is_forbidden(name)]
    return found


def imported_modules(source: str, module: str) -> list[str]:
    """Every module ``source`` imports, at any depth, as absolute names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return found


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if not node.level:
        return node.module or ""
    package = module.rsplit(".", node.level)[0]
    return f"{package}.{node.module}" if node.module else package


def _is_forbidden(name: str) -> bool:
    return any(name == each or name.startswith(f"{each}.") for each in FORBIDDEN)


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(("gitops_compose", "core", *parts))


def test_the_scan_sees_the_core() -> None:
    assert {path.stem for path in core_modules()} >= {"plan", "stack", "snapshot", "outcome"}


@pytest.mark.parametrize("path", core_modules(), ids=module_name)
def test_core_module_imports_nothing_that_does_io(path: Path) -> None:
    module = module_name(path)
    assert forbidden_imports(path.read_text(), module) == []


@pytest.mark.parametrize("path", sorted((CORE / "compose").rglob("*.py")), ids=module_name)
def test_how_compose_reads_a_stack_does_not_reach_into_reconciling(path: Path) -> None:
    module = module_name(path)
    reaching = [
        name
        for name in imported_modules(path.read_text(), module)
        if name.startswith("gitops_compose.core.reconcile")
    ]
    assert reaching == []


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("import subprocess", ["subprocess"]),
        ("from os import environ", ["os"]),
        ("import os.path", ["os.path"]),
        ("import json, time as clock", ["time"]),
        ("def now():\n    from datetime import datetime\n    return datetime.now()", ["datetime"]),
        ("from gitops_compose.shell.cli import main", ["gitops_compose.shell.cli"]),
        ("from ...shell import check", ["gitops_compose.shell"]),
        ("from ... import shell", ["gitops_compose.shell"]),
        ("from gitops_compose import core, shell", ["gitops_compose.shell"]),
        ("import posixpath\nfrom collections import Counter", []),
        ("from gitops_compose.core.compose.stack import Stack", []),
    ],
)
def test_the_scan_reports_forbidden_imports(source: str, reported: list[str]) -> None:
    assert forbidden_imports(source, "gitops_compose.core.reconcile.plan") == reported


# --- hidden state and environment probes ------------------------------------------------

_CACHES = frozenset({"lru_cache", "cache"})
_MUTABLE_CALLS = frozenset(
    {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque"}
)
_MUTATORS = frozenset(
    {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "clear"}
    | {"remove", "discard", "appendleft", "sort"}
)
_MISSING_MODULE = frozenset({"ImportError", "ModuleNotFoundError"})


def hidden_state(source: str) -> list[str]:
    """What in ``source`` keeps state between calls or asks about the environment: cache
    decorators, module-level containers that are filled later, ``global``, capability
    probes on a module (``getattr(yaml, "CSafeLoader", None)``, ``hasattr``) and imports
    tried for whether they work."""
    tree = ast.parse(source)
    found = [*_cache_decorators(tree), *_module_containers(tree)]
    modules = _imported_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found += [f"global {name}" for name in node.names]
        elif isinstance(node, ast.Call) and _probes_a_module(node, modules):
            assert isinstance(node.func, ast.Name)
            found.append(f"{node.func.id}({ast.unparse(node.args[0])}, ...)")
        elif isinstance(node, ast.ExceptHandler) and _catches_a_missing_module(node):
            found.append(f"except {ast.unparse(node.type) if node.type else ''}")
    return found


def _cache_decorators(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name in _CACHES:
                found.append(f"@{ast.unparse(target)} on {node.name}")
    return found


def _module_containers(tree: ast.Module) -> list[str]:
    """Containers bound at module level that start empty or that the module changes."""
    bound: dict[str, ast.expr] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        if _is_mutable(value):
            bound.update({each.id: value for each in targets if isinstance(each, ast.Name)})
    changed = {name for name in _changed_names(tree) if name in bound}
    empty = {name for name, value in bound.items() if _is_empty(value)}
    return [f"module-level {name}" for name in sorted(changed | empty)]


def _is_mutable(value: ast.expr) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp):
        return True
    if isinstance(value, ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in _MUTABLE_CALLS
    return False


def _is_empty(value: ast.expr) -> bool:
    if isinstance(value, ast.Dict):
        return not value.keys
    if isinstance(value, ast.List | ast.Set):
        return not value.elts
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name == "defaultdict":  # its argument is the factory of its values
        return len(value.args) <= 1 and not value.keywords
    return not value.args and not value.keywords


def _changed_names(tree: ast.Module) -> set[str]:
    """Names whose contents some code changes: ``x[k] = v``, ``del x[k]``, ``x.append(v)``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            if isinstance(node.value, ast.Name):
                found.add(node.value.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
            and isinstance(node.func.value, ast.Name)
        ):
            found.add(node.func.value.id)
    return found


def _imported_names(tree: ast.Module) -> set[str]:
    """Names that stand for modules: ``import yaml``, ``import a.b as c``, ``from a import b``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {alias.asname or alias.name for alias in node.names}
    return found


def _probes_a_module(node: ast.Call, modules: set[str]) -> bool:
    if not (isinstance(node.func, ast.Name) and node.func.id in {"getattr", "hasattr"}):
        return False
    first = node.args[0] if node.args else None
    return isinstance(first, ast.Name | ast.Attribute) and _root(first) in modules


def _root(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _catches_a_missing_module(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(each, ast.Name) and each.id in _MISSING_MODULE for each in names)


@pytest.mark.parametrize("path", core_modules(), ids=module_name)
def test_core_module_keeps_no_hidden_state_and_probes_nothing(path: Path) -> None:
    assert hidden_state(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        (
            "from functools import lru_cache\n@lru_cache(maxsize=64)\ndef f(x): return x",
            ["@lru_cache on f"],
        ),
        ("import functools\n@functools.cache\ndef f(x): return x", ["@functools.cache on f"]),
        (
            "class A:\n    @functools.lru_cache\n    def f(self): pass",
            ["@functools.lru_cache on f"],
        ),
        ("_SEEN: dict[str, int] = {}\ndef f(k): return _SEEN.get(k)", ["module-level _SEEN"]),
        ("_MODELS = {}\ndef f(k, v):\n    _MODELS[k] = v", ["module-level _MODELS"]),
        ("_LOG = []\ndef f(v):\n    _LOG.append(v)", ["module-level _LOG"]),
        ("from collections import defaultdict\n_BY = defaultdict(list)", ["module-level _BY"]),
        ("_K = {'a': 1}\ndef f(k, v):\n    _K.setdefault(k, v)", ["module-level _K"]),
        ("_N = 0\ndef f():\n    global _N\n    _N += 1", ["global _N"]),
        ('import yaml\nLOADER = getattr(yaml, "CSafeLoader", None)', ["getattr(yaml, ...)"]),
        ('import yaml\nFAST = hasattr(yaml, "CSafeLoader")', ["hasattr(yaml, ...)"]),
        (
            "try:\n    import ujson as json\nexcept ImportError:\n    import json",
            ["except ImportError"],
        ),
        # What the core may do: constant tables, values of its own, errors of what it reads.
        ("_BASES = {'0x': 16, '0o': 8}\ndef f(p): return _BASES.get(p)", []),
        ("def f(error): return getattr(error, 'problem_mark', None)", []),
        ("def f():\n    seen = {}\n    seen['a'] = 1\n    return seen", []),
        ("from dataclasses import dataclass\n@dataclass\nclass A:\n    x: int = 0", []),
    ],
)
def test_the_scan_reports_hidden_state_and_probes(source: str, reported: list[str]) -> None:
    assert hidden_state(source) == reported


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("import sys\nFAST = 'yaml' in sys.modules", ["sys"]),
        (
            "from importlib.util import find_spec\nC = find_spec('_yaml') is not None",
            ["importlib.util"],
        ),
        ("import importlib.util", ["importlib.util"]),
        ("import os\nHOME = os.environ.get('HOME')", ["os"]),
        ("import platform", ["platform"]),
    ],
)
def test_the_scan_reports_environment_probes_by_their_imports(
    source: str, reported: list[str]
) -> None:
    assert forbidden_imports(source, "gitops_compose.core.compose.compose_yaml") == reported
