"""Where decrypted secret files live while their stack runs: a private directory (mode
0700) on tmpfs, ``/run/gitops-compose/<id>`` where ``/run`` can be written, else
``plaintext/`` in the state directory; one directory per Compose project inside.

Never the working tree. A project's directory is made anew each time its stack is started
(what an earlier start left is gone), removed when the stack is removed, and removed by
``sweep`` once no stack of the state has that project. After a reboot, tmpfs is empty: the
containers that mounted a decrypted file do not start, and the check that starts them
again decrypts anew.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import final

RUN = Path("/run")
_PRIVATE = 0o700
# Readable by the user a container runs as, through a bind mount; the directories above
# keep everyone else out.
_FILE = 0o644


def plaintext_root(state_dir: Path, run: Path = RUN) -> Path:
    """The directory this state directory's decrypted files go in."""
    if run.is_dir() and os.access(run, os.W_OK | os.X_OK):
        named = hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()[:16]
        return run / "gitops-compose" / named
    return state_dir / "plaintext"


@final
class PlaintextDirectory:
    def __init__(self, root: Path) -> None:
        self.root = root

    def fresh(self, project: str) -> Path:
        """An empty private directory for a project's decrypted files."""
        self.remove(project)
        if not self.root.parent.exists():  # /run/gitops-compose: ours, private too
            self.root.parent.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
        self.root.mkdir(mode=_PRIVATE, exist_ok=True)
        self.root.chmod(_PRIVATE)
        here = self.root / project
        here.mkdir(mode=_PRIVATE)
        return here

    @staticmethod
    def write(directory: Path, relative: str, content: bytes) -> Path:
        """Write a decrypted file below ``directory``; its directories private too."""
        target = directory / relative
        target.parent.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, _FILE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        return target

    def remove(self, project: str) -> None:
        shutil.rmtree(self.root / project, ignore_errors=True)

    def sweep(self, keep: Collection[str]) -> None:
        """Remove the directories of projects not in ``keep``: left by a stack that is gone."""
        with contextlib.suppress(OSError):
            for each in self.root.iterdir():
                if each.name not in keep:
                    shutil.rmtree(each, ignore_errors=True)
