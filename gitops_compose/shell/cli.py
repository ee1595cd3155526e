"""gitops-compose: keep this Docker host's Compose stacks in step with a git repository.

Usage:
  gitops.pyz [options] [--notify URL]... [--path SUBDIR]...
  gitops.pyz plan [--images] [options] [--path SUBDIR]...
  gitops.pyz status [options] [--path SUBDIR]...
  gitops.pyz accept-remote [options]
  gitops.pyz retry STACK [options]
  gitops.pyz sync [--wait] [options]
  gitops.pyz notify-test [options] [--notify URL]...
  gitops.pyz -h | --help
  gitops.pyz --version

Commands:
  (none)                      Check the remote and deploy, every --interval or --once.
  plan                        Fetch and print what the next check would do and why;
                              change nothing. Exit 0 in sync, 1 changes pending, 2 error.
  status                      Print each stack's status from the saved state.
  retry STACK                 Have the next check try a failed or rolled-back stack
                              again now, its files unchanged.
  accept-remote               After a force push: fetch, and move a clean clone to the
                              remote head, even when it is not a descendant; the next
                              check converges. Exit 0 moved (or already there), 1 refused.
  sync                        Ask the daemon running for this state directory to check
                              now. With --wait, wait for that check and exit as --once
                              would. Exit 2 when no daemon runs.
  notify-test                 Send one test message to each --notify target and say
                              whether each took it. Exit 0 all did, 1 otherwise.

Options:
  --repo PATH                 The host's clone of the repository [default: .].
  --remote NAME               The remote to follow [default: origin].
  --branch NAME               The branch to follow (default: the branch HEAD is on).
  --path SUBDIR               Manage only the stacks under this directory of the
                              repository (repeatable; default: $GITOPS_PATH, separated
                              by spaces, commas or colons; else the whole repository).
  --interval SECONDS          Seconds between two checks; -1: no polling, checks come
                              from webhooks and sync only [default: 60].
  --once                      Run one check and exit: 0 when it did all it had to and
                              every stack is ok and running, 1 if not.
  --self-heal                 Start stacks that are not running on every check, not only
                              when the remote changed.
  --state-dir PATH            State and lock (default: gitops-compose in the .git directory).
  --metrics-addr HOST:PORT    Serve /metrics, /status, /health and /webhook there
                              [default: 127.0.0.1:2112].
  --no-metrics                Serve no HTTP at all.
  --webhook-secret-file PATH  The shared secret that signs POST /webhook (default:
                              $GITOPS_WEBHOOK_SECRET); without a secret, no webhook.
  --no-webhook                No /webhook, even with a secret.
  --wait                      sync: wait for the check and exit as --once would.
  --metrics-file PATH         After each check, write the metrics to PATH in the textfile
                              format of node_exporter.
  --compose-timeout SECONDS   Longest a single docker compose call may take [default: 600].
  --jobs N                    Compose commands run at once, each stack after those it
                              depends on [default: 4].
  --health-timeout SECONDS    After a start or restart, how long its services may take
                              to run and be healthy; 0 turns the gate off [default: 180].
  --settle SECONDS            Then how long no container may exit or restart before the
                              stack counts as deployed [default: 10].
  --no-rollback               Leave a changed stack that fails its gate as Compose left
                              it, instead of bringing back what last ran well.
  --image-updates             Follow the image tags of every stack in their registries
                              (a stack's x-gitops image_updates: false still opts out).
  --image-interval SECONDS    Seconds between two asks of the registries [default: 3600].
  --image-cooldown DURATION   Take a new digest only once seen unchanged this long:
                              seconds, or 30m, 6h, 1d [default: 0].
  --images                    plan: ask the registries now, and list pending image
                              updates and digests waiting out their cool-down.
  --notify URL                An Apprise URL to notify (repeatable; default:
                              $GITOPS_NOTIFY_URLS, space- or comma-separated).
  --notify-on WHAT            failures, or changes: failures and one summary per check
                              that changed something [default: failures].
  --notify-timeout SECONDS    Longest a notification or a commit status may take
                              [default: 10].
  --name NAME                 This host's name in notifications and commit statuses
                              (default: the hostname).
  --commit-status FORGE       Post each deploy's result on its commit: github, gitea
                              (Gitea and Forgejo) or gitlab.
  --forge-token-file PATH     The forge's API token (default: $GITOPS_FORGE_TOKEN).
  --forge-url URL             The forge's API base URL (default: from the remote's URL).
  --forge-repo OWNER/NAME     The repository on the forge (default: from the remote's
                              URL).
  --ssh-key PATH              Private key for an SSH remote (default: ssh-agent).
  --format FORMAT             Output of plan and status: text or json [default: text].
  --log-format FORMAT         text or json [default: text].
  --log-level LEVEL           debug, info, warning or error [default: info].
  -v --verbose                Log at debug level.
  -h --help                   Show this text.
  --version                   Show the version.

Environment (the original GitopsCompose 1.0's; an option on the command line wins):
REPOSITORY_PATH (--repo), CHECK_INTERVAL_IN_SECONDS (--interval), WEBHOOK_ENABLED
(false: --no-webhook), METRICS_ENABLED (false: --no-metrics), LOG_FORMAT (--log-format),
LOG_LEVEL (--log-level); GITOPS_WEBHOOK_SECRET (the webhook's secret); GITOPS_NOTIFY_URLS
(--notify); GITOPS_PATH (--path); GITOPS_FORGE_TOKEN (the forge's token,
without --forge-token-file).

Exit codes: 0 success; 1 a check or a stack operation failed (plan: changes pending);
2 bad input or environment (sync: no daemon); 3 another check holds the lock.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from gitops_compose import __version__


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # The reader went away (`status | head`): what it read was all it wanted. Later
        # writes, and Python's own flush at exit, go nowhere instead of failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(arguments: list[str]) -> int:
    if "-h" in arguments or "--help" in arguments:
        print(__doc__.strip())
        return 0
    if "--version" in arguments:
        print(f"gitops-compose {__version__}")
        return 0
    # Imported only now, so --version and --help answer without loading git, Docker and
    # metrics code.
    from gitops_compose.shell.commands import run  # noqa: PLC0415

    return run(arguments, __doc__)
