"""Where decrypted files live (a private directory, made anew, removed with the stack or
once stale), how sops is run, and a Compose command pointed at the decrypted files."""

from __future__ import annotations

from pathlib import Path

from returns.result import Failure

from gitops_compose.core.compose.secret_file import Redirection, SecretFile, SecretFormat
from gitops_compose.shell.decryption import redirected
from gitops_compose.shell.plaintext import PlaintextDirectory, plaintext_root
from gitops_compose.shell.sops import Sops


def test_the_plaintext_goes_to_run_when_it_can_be_written_else_to_the_state(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    run = tmp_path / "run"
    assert plaintext_root(state, run) == state / "plaintext"  # no /run here
    run.mkdir()
    found = plaintext_root(state, run)
    assert found.parent == run / "gitops-compose"
    assert found != plaintext_root(tmp_path / "other-state", run)


def test_a_project_directory_is_private_made_anew_and_removed(tmp_path: Path) -> None:
    store = PlaintextDirectory(tmp_path / "run" / "gitops-compose" / "id")
    here = store.fresh("web")
    written = PlaintextDirectory.write(here, "app/.env", b"A=1\n")
    assert written.read_bytes() == b"A=1\n"
    for each in (store.root.parent, store.root, here, written.parent):
        assert each.stat().st_mode & 0o777 == 0o700
    again = store.fresh("web")
    assert list(again.iterdir()) == []  # what an earlier start left is gone
    store.fresh("gone")
    store.sweep({"web"})
    assert sorted(each.name for each in store.root.iterdir()) == ["web"]
    store.remove("web")
    assert list(store.root.iterdir()) == []


def test_no_sops_on_path_is_said_naming_the_file(tmp_path: Path) -> None:
    secret = SecretFile("app/.env", SecretFormat.DOTENV)
    found = Sops(program="no-such-sops-here").decrypt(tmp_path / ".env", secret)
    assert found == Failure("cannot decrypt app/.env: no sops command on PATH")


def test_a_compose_command_runs_from_the_decrypted_files() -> None:
    base = Path("/srv/deploy")
    command = [
        "compose",
        "--project-name",
        "app",
        "--project-directory",
        "/srv/deploy/app",
        "--file",
        "/srv/deploy/app/compose.yaml",
        "--file",
        "/srv/deploy/app/compose.override.yaml",
        "up",
        "--detach",
    ]
    redirection = Redirection(
        ("/run/x/app/app/compose.yaml", "/srv/deploy/app/compose.override.yaml"),
        "/run/x/app/app/.env",
        "services: {}\n",
    )
    found = redirected(
        command,
        base,
        ("app/compose.yaml", "app/compose.override.yaml"),
        redirection,
        Path("/run/x/app/.gitops-secrets.yaml"),
    )
    assert found == [
        "compose",
        "--project-name",
        "app",
        "--project-directory",
        "/srv/deploy/app",
        "--file",
        "/run/x/app/app/compose.yaml",
        "--file",
        "/srv/deploy/app/compose.override.yaml",
        "--file",
        "/run/x/app/.gitops-secrets.yaml",
        "--env-file",
        "/run/x/app/app/.env",
        "up",
        "--detach",
    ]
