"""The functional core: pure decisions, no I/O, no clock, no environment.

Two packages, one for each kind of question:

- ``compose``: how Compose reads a stack. YAML as Compose loads it, interpolation and
  dotenv, the Compose file model, the files a stack reads (includes, extends, env files,
  mounts), links out of the repository, a commit's snapshot, and the stacks found in it
  with their fingerprints. It imports nothing from ``reconcile``.
- ``reconcile``: how a host is brought in step with a commit. The plan and its actions,
  the order between stacks, the schedule, the health gate, rollback, the check (the
  conversation with the shell), outcomes, statuses and the saved state. It may import
  from ``compose``.

Neither package imports the shell, or any module that does I/O (tests/test_core_purity.py).
"""
