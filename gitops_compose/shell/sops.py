"""The ``sops`` program: it decrypts a secret file to a pipe, never to a file of ours.

The age key comes as sops looks for it (``SOPS_AGE_KEY_FILE``, ``SOPS_AGE_KEY``, its own
default file) or from ``--sops-age-key-file``, which is given to the sops process alone,
through its environment. Why it failed is read by the core (secret_file.failure_of) and
said in one line naming the file; its message is never passed on, nor what it decrypted.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import final

from returns.result import Failure, Result, Success

from gitops_compose.core.compose.secret_file import (
    DecryptionFailure,
    SecretFile,
    failure_of,
    reason,
)
from gitops_compose.shell import log

SOPS = "sops"
KEY_FILE_VARIABLE = "SOPS_AGE_KEY_FILE"
_TIMEOUT = 60.0


@final
class Sops:
    def __init__(self, key_file: Path | None = None, program: str = SOPS) -> None:
        self._key_file = key_file
        self._program = program

    def decrypt(self, file: Path, secret: SecretFile) -> Result[bytes, str]:
        """The plaintext of ``file`` (the secret file ``secret``, wherever it is written
        out), or why sops could not give it, naming ``secret.path``."""
        return self._run(str(file), None, secret)

    def decrypts(self, raw: bytes, secret: SecretFile) -> str | None:
        """Whether sops decrypts these contents of ``secret`` (through a pipe; what it
        gives is dropped at once): None, or why not (``plan --secrets``)."""
        return self._run("/dev/stdin", raw, secret).map(lambda _: None).swap().value_or(None)

    def _run(self, file: str, raw: bytes | None, secret: SecretFile) -> Result[bytes, str]:
        program = shutil.which(self._program)
        if program is None:
            return Failure(reason(secret.path, DecryptionFailure.NO_SOPS))
        environment = dict(os.environ)
        if self._key_file is not None:
            environment[KEY_FILE_VARIABLE] = str(self._key_file)
        kind = secret.format.value
        command = [program, "--decrypt", "--input-type", kind, "--output-type", kind, file]
        began = time.monotonic()
        try:
            done = subprocess.run(
                command,
                env=environment,
                input=raw if raw is not None else b"",
                capture_output=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Failure(reason(secret.path, DecryptionFailure.TIMED_OUT))
        except OSError:
            return Failure(reason(secret.path, DecryptionFailure.NO_SOPS))
        log.event(
            "sops",
            logging.DEBUG,
            file=secret.path,
            exit=done.returncode,
            duration=time.monotonic() - began,
        )
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", errors="replace")
            return Failure(reason(secret.path, failure_of(done.returncode, said), done.returncode))
        return Success(done.stdout)
