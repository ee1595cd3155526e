"""What Docker Swarm makes of a stack: the keys it refuses, and the file it is given."""

from __future__ import annotations

import json
from typing import Any

from gitops_compose.core.compose.stack import for_swarm
from gitops_compose.core.compose.swarm_support import refused_keys, rendered_for_swarm

from .builders import compose, stacks


def test_keys_swarm_ignores_or_refuses_are_named_by_service_and_key() -> None:
    services: dict[str, dict[str, Any]] = {
        "web": {"image": "web", "build": ".", "restart": "always", "container_name": "w"},
        "db": {"image": "db", "network_mode": "host", "ports": ["5432:5432"]},
        "api": {"image": "api", "depends_on": {"db": {"condition": "service_healthy"}}},
        "ok": {"image": "ok", "depends_on": ["db"], "deploy": {"replicas": 2}},
    }

    assert refused_keys(services) == (
        "services.api.depends_on.condition",
        "services.db.network_mode",
        "services.web.build",
        "services.web.container_name",
        "services.web.restart",
    )


def test_under_swarm_a_stack_with_a_refused_key_is_an_error_naming_it_and_others_stay() -> None:
    found = stacks(
        {
            "built/compose.yaml": compose("web", web={"image": "web", "build": "."}),
            "plain/compose.yaml": compose("web"),
        }
    )
    assert set(found.valid) == {"built", "plain"}, "Compose runs both"

    swarm = for_swarm(found)

    assert set(swarm.valid) == {"plain"}
    error = swarm.broken["built"]
    assert error.project == "built"
    assert error.reason.startswith("Swarm ignores or refuses services.web.build (")
    assert error.fingerprint == found.valid["built"].fingerprint


def test_stacks_swarm_takes_as_they_are_are_the_same_value() -> None:
    found = stacks({"plain/compose.yaml": compose("web")})
    assert for_swarm(found) is found


def test_the_rendered_file_drops_what_swarm_refuses_and_is_stable() -> None:
    web = {"image": "web", "entrypoint": None, "networks": {"default": None}}
    config = {
        "name": "shop",
        "services": {"web": web, "db": {"image": "db"}},
        "volumes": {"data": {"name": "shop_data"}},
    }
    reordered = {
        "volumes": {"data": {"name": "shop_data"}},
        "services": {"db": {"image": "db"}, "web": dict(reversed(web.items()))},
        "name": "shop",
    }

    rendered = rendered_for_swarm(config)

    assert rendered == rendered_for_swarm(reordered)
    document = json.loads(rendered)
    assert "name" not in document
    # A null a service key does not say is dropped; one inside a mapping means "as is".
    assert document["services"]["web"] == {"image": "web", "networks": {"default": None}}
