"""How a host is reconciled with a commit: decisions, never I/O.

A check (``check``) is a conversation with the shell: it asks what the clone, the commits
and the host look like, plans (``plan``, ``action``, ``order``), schedules the actions
(``schedule``), watches each deploy at its health gate (``gate``, ``runtime``), rolls back
what fails, and settles: outcomes (``outcome``), statuses (``status``) and how each changes
(``transition``, one table of status and event), when a failure is tried again (``retry``),
whether a check is a full pass (``full_pass``), the saved state (``state``) and what the
shell reports (``report``, ``health``). ``webhook`` decides whether a push may start a
check.

May import: the standard library's pure modules, ``returns``, ``gitops_compose.core.compose``
and this package. Never the shell.
"""
