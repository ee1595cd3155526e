"""The licence files of every bundled distribution, under licenses/ in the archive."""

from __future__ import annotations

from .wheels import Wheels, members


def license_files(wheels: Wheels) -> dict[str, bytes]:
    """licenses/<distribution>-<version>/<file> for each file a wheel's dist-info holds."""
    files = {}
    for wheel in sorted(wheels.values()):
        for info, archive in members(wheel):
            top, _, rest = info.filename.partition("/")
            if top.endswith(".dist-info") and rest.startswith("licenses/"):
                name = f"licenses/{top.removesuffix('.dist-info')}/{rest.removeprefix('licenses/')}"
                files[name] = archive.read(info)
    return files
