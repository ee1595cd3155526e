"""What Docker Swarm makes of a Compose file: the keys it refuses, and the rendered file.

``docker stack deploy`` reads a Compose file its own way. It ignores a set of service keys
(it prints "Ignoring unsupported options" and deploys without them) or refuses them; the
list is docker/cli's (``cli/compose/types``: UnsupportedProperties, DeprecatedProperties),
with ``depends_on`` conditions, which Swarm never waits for. A stack that uses one of them
would run differently from what its file says, so it is an error naming the key, before
anything is tried.

Each stack is first rendered by ``docker compose config`` (which reads ``.env``,
``env_file``, ``extends`` and ``include``, and makes paths absolute), then what Swarm's
loader does not take is taken out of the rendered file: the top-level ``name`` and the
``null`` values Compose writes for keys it left unset. The result is written with sorted
keys, so the same files always give the same bytes, and Swarm updates only the services
whose rendered spec changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Service keys Swarm ignores or refuses, and what to use instead, in the order shown.
REFUSED: Mapping[str, str] = {
    "build": "push the image to a registry and name it with image:",
    "cgroup_parent": "",
    "container_name": "Swarm names tasks itself",
    "devices": "",
    "domainname": "",
    "external_links": "",
    "ipc": "",
    "links": "services on one network reach each other by name",
    "mac_address": "",
    "network_mode": "use networks:",
    "pid": "",
    "privileged": "",
    "restart": "use deploy.restart_policy",
    "security_opt": "",
    "shm_size": "",
    "userns_mode": "",
}
# depends_on conditions Swarm does not wait for (a list of names means order only, which
# Swarm ignores as well, but says nothing a stack relies on to run).
_CONDITIONS = frozenset({"service_healthy", "service_completed_successfully", "service_started"})


def refused_keys(services: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The keys of these services (merged and interpolated, by name) Swarm would ignore or
    refuse, as ``services.NAME.KEY``, sorted."""
    found: list[str] = []
    for name, body in sorted(services.items()):
        for key in REFUSED:
            if key in body and body[key] is not None:
                found.append(f"services.{name}.{key}")
        depends = body.get("depends_on")
        if isinstance(depends, Mapping) and any(
            isinstance(each, Mapping) and each.get("condition") in _CONDITIONS
            for each in depends.values()
        ):
            found.append(f"services.{name}.depends_on.condition")
    return tuple(found)


def refusal_reason(keys: tuple[str, ...]) -> str:
    """The reason of a stack Swarm cannot deploy as written, naming its first keys."""
    shown = []
    for each in keys[:3]:
        key = each.rsplit(".", 1)[-1]
        instead = REFUSED.get(key, "Swarm starts services in any order")
        shown.append(f"{each} ({instead})" if instead else each)
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"Swarm ignores or refuses {', '.join(shown)}{more}"


def rendered_for_swarm(config: Mapping[str, Any]) -> bytes:
    """``docker compose config --format json`` of a stack, as ``docker stack deploy``
    takes it (JSON is YAML): stable bytes for the same input."""
    document = {key: value for key, value in config.items() if key != "name"}
    services = document.get("services")
    if isinstance(services, Mapping):
        document["services"] = {
            name: {key: value for key, value in body.items() if value is not None}
            if isinstance(body, Mapping)
            else body
            for name, body in services.items()
        }
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"
