"""The Grafana dashboard of contrib/grafana imports as is: its data source is a variable,
never a uid of someone's Grafana, and it has the panels issue 18 lists, each reading the
series it is about. That every query runs on a real Prometheus against a real daemon is
tests/e2e/test_prometheus.py's."""

from __future__ import annotations

from typing import Any

from .promql import dashboard_expressions, load_dashboard, metric_names, panels


def data_sources(node: object) -> list[object]:
    """Every `datasource` value anywhere in the document."""
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [each for value in node.values() for each in data_sources(value)]
    if isinstance(node, list):
        return [each for value in node for each in data_sources(value)]
    return []


def by_title() -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in panels(load_dashboard())}


def test_the_data_source_is_a_variable_of_type_prometheus() -> None:
    dashboard = load_dashboard()
    variables = {each["name"]: each for each in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "__inputs" not in dashboard
    # The built-in annotation query is Grafana's own; every panel, query and variable
    # reads the data source the variable names.
    used = data_sources(dashboard["panels"]) + data_sources(dashboard["templating"])
    assert len(used) > 20
    assert all(each == {"type": "prometheus", "uid": "${datasource}"} for each in used)


def test_it_has_the_panels_for_checks_deployments_and_stacks() -> None:
    panels_by_title = by_title()
    reads = {
        title: set().union(*(metric_names(t["expr"]) for t in panel.get("targets", [])))
        for title, panel in panels_by_title.items()
    }
    assert {"gitops_check_success_total", "gitops_check_error_total"} <= reads["Checks per minute"]
    assert reads["Time since the last successful check"] == {
        "gitops_check_last_success_timestamp_seconds"
    }
    assert reads["Stack operations per minute"] == {
        "gitops_deployment_success_total",
        "gitops_deployment_error_total",
    }
    assert reads["Stacks by status"] == {"gitops_deployment_active_total"}
    assert reads["Stacks"] == {
        "gitops_stack_status",
        "gitops_stack_deployed_info",
        "gitops_stack_running",
        "gitops_stack_failures",
        "gitops_stack_rollbacks_total",
    }


def test_the_stack_table_names_its_columns() -> None:
    table = by_title()["Stacks"]
    assert table["type"] == "table"
    assert all(target.get("format") == "table" for target in table["targets"])
    assert [each["id"] for each in table["transformations"]][:2] == ["merge", "organize"]
    renamed = table["transformations"][1]["options"]["renameByName"]
    assert {"Status", "Deployed commit", "Failures in a row", "Rollbacks"} <= set(renamed.values())


def test_every_query_fills_its_variables_and_names_a_metric() -> None:
    expressions = dashboard_expressions("1m")
    assert len(expressions) >= 15
    for where, expr in expressions.items():
        assert "$instance" not in expr, where
        assert "$__" not in expr, where
        assert metric_names(expr), where
