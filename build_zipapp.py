#!/usr/bin/env python3
"""Build dist/gitops.pyz: `python build_zipapp.py [--lock]`. The build is the build_pyz package."""

from build_pyz.command import main

if __name__ == "__main__":
    raise SystemExit(main())
