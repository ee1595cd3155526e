"""What of the product's environment Compose runs with."""

from __future__ import annotations

import pytest

from gitops_compose.shell.compose_host import compose_environment


def test_compose_never_sees_the_products_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "SOPS_AGE_KEY": "AGE-SECRET-KEY-1XYZ",
        "GITOPS_WEBHOOK_SECRET": "hook-secret",
        "GITOPS_FORGE_TOKEN": "forge-token",
        "GITOPS_NOTIFY_URLS": "tgram://bot-token/chat",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DB_HOST", "db.internal")

    given = compose_environment()

    assert given["DB_HOST"] == "db.internal", "a stack's own variables pass"
    assert not set(secrets) & set(given)
    assert not any(value in given.values() for value in secrets.values())


def test_variables_choosing_other_files_or_names_are_withheld(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPOSE_FILE", "other.yaml")
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "other")
    given = compose_environment()
    assert "COMPOSE_FILE" not in given
    assert "COMPOSE_PROJECT_NAME" not in given
