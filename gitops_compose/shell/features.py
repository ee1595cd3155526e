"""The one seam between a check and the features it reaches only when asked for.

An idle check (nothing new on the remote, every stack running) needs git, one ``docker
ps``, the state and the log; the modules on its way import what they use at their top.
What it never reaches is loaded here, and only here, by the function that starts that
feature, when the options or the work in hand ask for it:

- the Swarm engine (shell/swarm_host, core/compose/swarm_support): ``--engine swarm``;
- a daemon (shell/daemon: the sync socket, metrics, the status page, /health and the
  webhook): a run without ``--once``;
- notifications (shell/notifier): ``--notify`` or ``GITOPS_NOTIFY_URLS``;
- commit statuses (shell/commit_statuses, core/reconcile/forge): ``--commit-status``;
- registries (shell/registry, shell/registry_credentials): the first check of image tags;
- the metrics (shell/metrics, prometheus_client): a daemon, or ``--metrics-file``;
- the commands beside the check (shell/subcommands: plan, status, retry, accept-remote,
  sync, notify-test): their name on the command line;
- the decryption of secret files (shell/decryption, shell/sops, core/compose/secret_file):
  the first stack that has some.

So the import graph of a check stays plain (each module imports at its top), and what an
idle check loads is pinned by tests/shell/test_features.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from returns.result import Result

    from gitops_compose.core.compose.parse_cache import ParseCache
    from gitops_compose.core.reconcile.state import State
    from gitops_compose.shell.commit_statuses import CommitStatuses, ForgeOptions
    from gitops_compose.shell.decryption import Decryption
    from gitops_compose.shell.deploy import Job, Options
    from gitops_compose.shell.due import Due
    from gitops_compose.shell.metrics import StateMetrics
    from gitops_compose.shell.notifier import Notifier, NotifySettings
    from gitops_compose.shell.plaintext import PlaintextDirectory
    from gitops_compose.shell.registry import RegistryClient
    from gitops_compose.shell.swarm_host import SwarmHost

# Each function below is a feature's entrance: the imports inside them are the seam.
# ruff: noqa: PLC0415


def command(name: str) -> Callable[[Options], int]:
    """The command of that name beside the check (plan, status, ...)."""
    from gitops_compose.shell.subcommands import COMMANDS

    return COMMANDS[name]


def swarm_host(
    docker: str,
    workdir: Path,
    timeout: float,
    *,
    rendered: Path,
    converge_timeout: float,
    scratch: Path | None,
) -> SwarmHost:
    """The host protocol on a Swarm manager (``--engine swarm``)."""
    from gitops_compose.shell.swarm_host import SwarmHost

    return SwarmHost(
        docker,
        workdir,
        timeout,
        rendered=rendered,
        converge_timeout=converge_timeout,
        scratch=scratch,
    )


def swarm_problem(docker: str) -> str | None:
    """Why this engine is no Swarm manager, or None."""
    from gitops_compose.shell.swarm_host import swarm_problem

    return swarm_problem(docker)


def daemon(job: Job, due: Due) -> int:
    """Checks every interval and when asked, with the daemon's HTTP side, until a signal."""
    from gitops_compose.shell.daemon import run_daemon

    return run_daemon(job, due)


def notifier(settings: NotifySettings) -> Notifier:
    """The reporter that sends notifications once a check settled."""
    from gitops_compose.shell.notifier import Notifier

    return Notifier(settings)


def commit_statuses(
    forge: ForgeOptions, remote: str, remote_url: str | None
) -> Result[CommitStatuses, str]:
    """The reporter that posts each deploy's result on its commit, its forge's API and
    repository worked out from the remote's URL where the options leave them."""
    from gitops_compose.shell.commit_statuses import poster

    return poster(forge, remote, remote_url)


def notify_settings(
    urls: tuple[str, ...], on: str, timeout: float, host: str
) -> Result[NotifySettings, str]:
    """The settings of notifications to these targets, or why they cannot be sent."""
    from gitops_compose.shell.notifier import settings_of

    return settings_of(urls, on, timeout, host)


def forge_problem(chosen: str, api: str | None, repository: str | None) -> str | None:
    """What is wrong with the forge the command line names, or None."""
    from gitops_compose.shell.commit_statuses import forge_problem

    return forge_problem(chosen, api, repository)


def forge_options(
    chosen: str, *, token: str, api: str | None, repository: str | None, name: str, timeout: float
) -> ForgeOptions:
    """The forge's options, once ``forge_problem`` found nothing wrong."""
    from gitops_compose.shell.commit_statuses import forge_options

    return forge_options(
        chosen, token=token, api=api, repository=repository, name=name, timeout=timeout
    )


def state_metrics(state: State) -> StateMetrics:
    """The metrics of a saved state (``--metrics-file`` of a single check)."""
    from gitops_compose.shell.metrics import StateMetrics

    return StateMetrics(state)


def registry_client(docker: str) -> RegistryClient:
    """The client that asks registries for the digests of image tags, with the host's
    Docker credentials, reaching the engine's insecure registries as Docker does."""
    from gitops_compose.shell.registry import RegistryClient, insecure_of_engine
    from gitops_compose.shell.registry_credentials import Credentials

    return RegistryClient(Credentials.of_host(), insecure=insecure_of_engine(docker))


@final
class SecretFiles:
    """Where stacks' decrypted secret files live (see plaintext), and their decryption,
    loaded at the first stack that has some."""

    def __init__(
        self, plaintext: PlaintextDirectory, age_key_file: Path | None, parsing: ParseCache
    ) -> None:
        self.plaintext = plaintext
        self._age_key_file = age_key_file
        self._parsing = parsing
        self._decryption: Decryption | None = None

    def decryption(self) -> Decryption:
        if self._decryption is None:
            from gitops_compose.shell.decryption import Decryption
            from gitops_compose.shell.sops import Sops

            sops = Sops(self._age_key_file)
            self._decryption = Decryption(self.plaintext, sops, self._parsing)
        return self._decryption
