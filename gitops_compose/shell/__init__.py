"""Gathers facts (git, docker, clock) and carries out the core's plans.

Each module imports what it uses at its top. What a check reaches only when asked for (the
Swarm engine, a daemon's side, notifications, commit statuses, registries, the decryption
of secret files, the commands beside the check) is loaded through one seam, ``features``:
its functions are the only entrances to those modules, so an idle check loads none of
them (tests/shell/test_features.py pins it).
"""
