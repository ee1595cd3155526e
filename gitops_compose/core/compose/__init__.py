"""How Compose reads a stack: from a commit's files to stacks with fingerprints.

Holds the YAML loader (``compose_yaml``), variable interpolation and ``.env`` files
(``interpolation``, ``dotenv``), the Compose file model (``compose_file``), every file a
stack reads through includes, extends, env files and mounts (``compose_sources``), links
out of the repository (``link``), a commit's file listing (``snapshot``), the stacks found
in it (``stack``) and what each should run (``expectation``).

May import: the standard library's pure modules, ``returns``, and this package. Never
``gitops_compose.core.reconcile`` or the shell.
"""
