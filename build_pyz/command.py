"""`python build_zipapp.py [--lock]`: build dist/gitops.pyz, or refresh the lock's hashes."""

from __future__ import annotations

import argparse
from pathlib import Path

from .archive import BUILD_CACHE, OUTPUT, build
from .lock import LOCK, read_lock
from .wheels import WHEEL_CACHE, WheelCache, relock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build dist/gitops.pyz, the one file users copy to a Docker host."
    )
    default = "default: %(default)s"
    parser.add_argument("--output", type=Path, default=OUTPUT, help=default)
    parser.add_argument("--wheel-cache", type=Path, default=WHEEL_CACHE, help=default)
    parser.add_argument("--build-cache", type=Path, default=BUILD_CACHE, help=default)
    parser.add_argument("--lock", action="store_true", help=f"rewrite the hashes in {LOCK.name}")
    args = parser.parse_args(argv)
    cache = WheelCache(args.wheel_cache)
    if args.lock:
        relock(cache, read_lock(LOCK))
    else:
        build(args.output.resolve(), cache, args.build_cache)
    return 0
