"""The YAML parser the core reads Compose files with: the shell's choice, as the core may
not probe its environment (see ParseCache).

libyaml's parser where PyYAML was built with it (several times faster; the venv), else
PyYAML's pure parser as the core mends it (``compose_yaml.PURE_LOADER``; inside gitops.pyz).
Both give the same events, so the same documents.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from gitops_compose.core.compose.parse_cache import ParseCache

if TYPE_CHECKING:
    from gitops_compose.core.compose.compose_merge import Parse


def parse_cache() -> ParseCache:
    """The parse cache of this process, reading with the parser chosen here."""
    return ParseCache(chosen_parser)


def chosen_parser() -> Parse:
    """Called by the cache when the first Compose file is read. The one place that loads
    PyYAML and the core's reading of it: a check with nothing new reads no Compose file and
    loads neither."""
    import yaml  # noqa: PLC0415

    from gitops_compose.core.compose import compose_yaml  # noqa: PLC0415

    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", compose_yaml.PURE_LOADER)
    return partial(compose_yaml.documents, loader=loader)
