"""Secret files: found by their SOPS metadata in every format SOPS writes, never by name;
the files of a stack Compose reads are looked at, and only those; why sops failed said in
one line naming the file; Compose pointed at the decrypted copies."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success

from gitops_compose.core.compose.secret_file import (
    DecryptionFailure,
    Redirection,
    SecretFile,
    SecretFormat,
    failure_of,
    reason,
    redirection,
    secret_format,
)
from gitops_compose.core.compose.stack import contents_needed, for_swarm
from gitops_compose.core.reconcile.plan import Facts
from gitops_compose.core.reconcile.report import plan_document, plan_lines

from .builders import BRANCH, PARSING, all_running, compose, planned, repo, stacks

ENC = "ENC[AES256_GCM,data:E4rVDsgVtA==,iv:7G0du+e3hz5r=,tag:M1rVCwWsFmIVsZ/6TgC4Gg==,type:str]"
AGE = "-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl\\n-----END AGE ENCRYPTED FILE-----\\n"

# What sops 3.11 writes (the keys and ciphertext shortened).
DOTENV = f"""PASSWORD={ENC}
sops_age__list_0__map_enc={AGE}
sops_age__list_0__map_recipient=age14q45ddjjyvauwmxaqm8g2vvcrprc294ue3f97eapr2n026cxleesd6rcr0
sops_lastmodified=2026-12-03T11:40:29Z
sops_mac={ENC}
sops_unencrypted_suffix=_unencrypted
sops_version=3.11.0
"""
YAML = f"""services:
    web:
        image: {ENC}
sops:
    age:
        - recipient: age14q45ddjjyvauwmxaqm8g2vvcrprc294ue3f97eapr2n026cxleesd6rcr0
    lastmodified: "2026-12-03T11:40:29Z"
    mac: {ENC}
    unencrypted_suffix: _unencrypted
    version: 3.11.0
"""
JSON = f"""{{
\t"a": "{ENC}",
\t"sops": {{"age": [], "lastmodified": "2026-12-03T11:40:30Z", "mac": "{ENC}",
\t\t"version": "3.11.0"}}
}}"""
BINARY = f"""{{
\t"data": "{ENC}",
\t"sops": {{"age": [], "mac": "{ENC}", "version": "3.11.0"}}
}}"""
INI = f"""[s]
k = {ENC}

[sops]
lastmodified               = 2026-12-03T11:40:30Z
mac                        = {ENC}
version                    = 3.11.0
"""


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (DOTENV, ".env", SecretFormat.DOTENV),
        (DOTENV, "settings.conf", SecretFormat.DOTENV),
        (YAML, "compose.yaml", SecretFormat.YAML),
        (YAML, "secrets.txt", SecretFormat.YAML),
        (JSON, "config.json", SecretFormat.JSON),
        (BINARY, "db.txt", SecretFormat.BINARY),
        (BINARY, "data.json", SecretFormat.JSON),
        (INI, "app.ini", SecretFormat.INI),
    ],
)
def test_a_sops_file_is_known_by_its_metadata_whatever_its_name(
    text: str, name: str, expected: SecretFormat
) -> None:
    assert secret_format(text.encode(), name) is expected


@pytest.mark.parametrize(
    "text",
    [
        "PASSWORD=hunter2\n",
        "sops_version=3.11.0\nPASSWORD=x\n",  # no MAC: not what sops writes
        "services:\n  sops:\n    image: sops\n",  # a service named sops
        "sops:\n  image: x\n",  # a top-level sops without mac and version
        '{"sops": "the word"}',
        '{"data": "x", "sops": {"version": "1"}}',
        "[sops]\nname = x\n",
        "",
        "{ not json sops",
    ],
)
def test_a_file_sops_did_not_encrypt_is_no_secret_file(text: str) -> None:
    assert secret_format(text.encode(), "file") is None


WRONG_KEY = """Failed to get the data key required to decrypt the SOPS file.

Group 0: FAILED
  age14q45: FAILED
    - | failed to create reader for decrypting sops data key with
      | age: identity did not match any of the recipients: incorrect
      | identity for recipient block. Did not find keys in locations
      | 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', '/root/.ssh/id_ed25519',
"""
NO_KEY = """Failed to get the data key required to decrypt the SOPS file.

Group 0: FAILED
  age14q45: FAILED
    - | failed to load age identities. Did not find keys in
      | locations 'SOPS_AGE_SSH_PRIVATE_KEY_FILE',
"""
KEY_FILE = """    - | failed to load age identities. Errors while loading age
      | identities: failed to open SOPS_AGE_KEY_FILE file: open
      | /nonexist: no such file or directory. Did not find keys in
"""
CORRUPTED = (
    "Error decrypting tree: Error walking tree: Could not decrypt value: Could not decrypt "
    "with AES_GCM: cipher: message authentication failed"
)


@pytest.mark.parametrize(
    ("code", "said", "expected"),
    [
        (128, WRONG_KEY, DecryptionFailure.WRONG_KEY),
        (128, NO_KEY, DecryptionFailure.NO_KEY),
        (128, KEY_FILE, DecryptionFailure.KEY_FILE),
        (128, "something new", DecryptionFailure.WRONG_KEY),
        (23, CORRUPTED, DecryptionFailure.CORRUPTED),
        (1, "Error unmarshalling input json: invalid character 'a'", DecryptionFailure.CORRUPTED),
        (2, "what", DecryptionFailure.FAILED),
    ],
)
def test_why_sops_failed_is_read_from_its_exit_and_message(
    code: int, said: str, expected: DecryptionFailure
) -> None:
    assert failure_of(code, said) is expected


def test_the_reason_names_the_file_and_the_cause_and_nothing_sops_said() -> None:
    said = reason("my_app/production/.env", failure_of(128, WRONG_KEY), 128)
    assert said == "cannot decrypt my_app/production/.env: no age key matches (sops exit 128)"
    assert reason("a/.env", DecryptionFailure.NO_SOPS) == (
        "cannot decrypt a/.env: no sops command on PATH"
    )


SECRET_STACK = {
    "shared/common.env": DOTENV,
    "shared/plain.env": "A=1\n",
    "my_app/production/compose.yaml": compose(
        web={
            "env_file": [".env", "../../shared/common.env", "../../shared/plain.env"],
            "volumes": ["./cert.pem:/etc/cert.pem:ro", "./data:/data"],
            "secrets": ["db"],
        },
        db={"volumes": [{"type": "bind", "source": "./cert.pem", "target": "/cert"}]},
    )
    + "secrets:\n  db:\n    file: ./db.txt\n",
    "my_app/production/.env": DOTENV,
    "my_app/production/cert.pem": YAML,
    "my_app/production/db.txt": BINARY,
    "my_app/production/unused.json": JSON + " ",  # Compose never reads it
    "my_app/production/data/inside.env": DOTENV
    + "OTHER=1\n",  # in a mounted directory: mounted as is
    "my_app/staging/compose.yaml": compose("web"),
    "my_app/staging/.env": "TAG=1\n",
}


def test_a_stack_has_the_secret_files_compose_reads_for_it() -> None:
    found = stacks(SECRET_STACK)
    production = found.valid["my_app/production"]
    assert production.secret_files == (
        SecretFile("my_app/production/.env", SecretFormat.DOTENV),
        SecretFile("my_app/production/cert.pem", SecretFormat.YAML),
        SecretFile("my_app/production/db.txt", SecretFormat.BINARY),
        SecretFile("shared/common.env", SecretFormat.DOTENV),
    )
    assert found.valid["my_app/staging"].secret_files == ()


def test_the_files_compose_reads_are_read_from_git_and_no_other() -> None:
    snapshot = repo(SECRET_STACK)
    read = {path for path, blob in snapshot.blobs.items() if blob in snapshot.contents}
    assert "my_app/production/db.txt" in read
    assert "shared/plain.env" in read
    assert "my_app/production/unused.json" not in read
    assert "my_app/production/data/inside.env" not in read
    assert contents_needed(snapshot, PARSING) == frozenset()


def test_plan_names_the_stacks_with_secret_files_and_never_their_contents() -> None:
    desired = stacks(SECRET_STACK)
    found = planned(Facts(desired, desired, BRANCH, True, all_running(desired), full_pass=False))
    lines = plan_lines(found, BRANCH)
    assert (
        "secrets  my_app/production (SOPS-encrypted: my_app/production/.env, "
        "my_app/production/cert.pem, my_app/production/db.txt, shared/common.env)"
    ) in lines
    [entry] = plan_document(found, BRANCH)["secrets"]
    assert (entry["decrypts"], entry["error"]) == (None, None)
    assert found.in_sync  # carrying secret files is no change


PRIVATE = "/run/gitops-compose/x/my_app-production"


def test_compose_is_pointed_at_the_decrypted_copies() -> None:
    decrypted = {
        path: f"{PRIVATE}/{path}"
        for path in (
            "my_app/production/.env",
            "my_app/production/cert.pem",
            "my_app/production/db.txt",
            "shared/common.env",
        )
    }
    document = SECRET_STACK["my_app/production/compose.yaml"].encode()
    found = redirection(
        "my_app/production",
        ("my_app/production/compose.yaml",),
        (document,),
        decrypted,
        "/srv/deploy",
        variables={},
        parsing=PARSING,
    )
    assert isinstance(found, Success)
    redirected = found.unwrap()
    assert redirected.compose_files == ("/srv/deploy/my_app/production/compose.yaml",)
    assert redirected.env_file == f"{PRIVATE}/my_app/production/.env"
    assert redirected.override is not None
    lines = redirected.override.splitlines()
    env_files = [
        f"{PRIVATE}/my_app/production/.env",
        f"{PRIVATE}/shared/common.env",
        "../../shared/plain.env",
    ]
    assert '    env_file: !override ["' + '", "'.join(env_files) + '"]' in lines
    cert = f"{PRIVATE}/my_app/production/cert.pem"
    assert f'    volumes: !override ["{cert}:/etc/cert.pem:ro", "./data:/data"]' in lines
    assert (
        f'    volumes: !override [{{"type": "bind", "source": "{cert}", "target": "/cert"}}]'
        in lines
    )
    assert f'  "db": {{file: "{PRIVATE}/my_app/production/db.txt"}}' in lines
    # The override is YAML Compose reads (its tags aside).
    import yaml  # noqa: PLC0415

    loaded = yaml.safe_load(redirected.override.replace("!override ", ""))
    assert set(loaded["services"]) == {"web", "db"}


def test_an_encrypted_compose_file_is_replaced_by_its_decrypted_copy() -> None:
    decrypted = {"app/compose.yaml": f"{PRIVATE}/app/compose.yaml"}
    found = redirection(
        "app",
        ("app/compose.yaml",),
        (compose("web").encode(),),
        decrypted,
        "/srv/deploy",
        variables={},
        parsing=PARSING,
    )
    assert found == Success(Redirection((f"{PRIVATE}/app/compose.yaml",), None, None))


def test_a_secret_file_compose_reads_otherwise_is_refused_naming_it() -> None:
    decrypted = {"app/Dockerfile": f"{PRIVATE}/app/Dockerfile"}
    found = redirection(
        "app",
        ("app/compose.yaml",),
        (compose(web={"build": {"context": ".", "dockerfile": "Dockerfile"}}).encode(),),
        decrypted,
        "/srv/deploy",
        variables={},
        parsing=PARSING,
    )
    assert isinstance(found, Failure)
    assert found.failure().startswith("app/Dockerfile is encrypted with SOPS")


def test_a_path_written_with_a_variable_of_the_decrypted_env_is_followed() -> None:
    decrypted = {"app/prod.env": f"{PRIVATE}/app/prod.env"}
    found = redirection(
        "app",
        ("app/compose.yaml",),
        (compose(web={"env_file": ["${STAGE}.env"]}).encode(),),
        decrypted,
        "/srv/deploy",
        variables={"STAGE": "prod"},
        parsing=PARSING,
    )
    assert isinstance(found, Success)
    override = found.unwrap().override
    assert override is not None
    assert f'env_file: !override ["{PRIVATE}/app/prod.env"]' in override


def test_the_configuration_of_a_stack_with_secret_files_is_not_asked_of_compose() -> None:
    """Compose hashes what the files say decrypted: asking it would need sops on a check
    that starts nothing. Such a stack is judged by whether it runs."""
    from gitops_compose.core.reconcile.check import CheckSettings  # noqa: PLC0415
    from gitops_compose.core.reconcile.state import State  # noqa: PLC0415
    from gitops_compose.shell.check import plan_now  # noqa: PLC0415
    from tests.models import ModelHost, ModelRepository  # noqa: PLC0415

    repository = ModelRepository({"c1": SECRET_STACK}, "c1", "c1")
    running = all_running(stacks(SECRET_STACK))
    host = ModelHost(repository, running=dict(running))
    settings = CheckSettings(BRANCH, "infra", always=True, parsing=PARSING)
    found = plan_now(repository, host, State(), settings, 1000.0)
    assert isinstance(found, Success)
    assert host.configs_asked == ["my_app/staging"]


def test_compose_sops_yaml_is_a_stack_where_compose_has_none_of_its_own_names() -> None:
    found = stacks(
        {
            "sealed/compose.sops.yaml": YAML,
            "both/compose.yaml": compose("web"),
            "both/compose.sops.yaml": YAML,
        }
    )
    assert found.valid["sealed"].compose_files == ("sealed/compose.sops.yaml",)
    assert found.valid["sealed"].secret_files == (
        SecretFile("sealed/compose.sops.yaml", SecretFormat.YAML),
    )
    assert found.valid["both"].compose_files == ("both/compose.yaml",)


def test_a_stack_with_secret_files_is_an_error_for_swarm_naming_the_file() -> None:
    found = for_swarm(stacks(SECRET_STACK))
    assert "my_app/production" not in found.valid
    reason = found.broken["my_app/production"].reason
    assert reason.startswith("my_app/production/.env: SOPS-encrypted files are not decrypted")
    assert "my_app/staging" in found.valid
