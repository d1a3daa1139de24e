"""Reading the Grafana dashboards the way Grafana does: panels, their queries, variables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tests.ops.conftest import DASHBOARDS

GRAFANA = DASHBOARDS / "grafana"

#: What Grafana substitutes for its built-in interval variables (a 1 s scrape interval; with
#: Grafana's rule $__rate_interval = max(4 x scrape interval, $__interval + scrape interval)).
BUILTINS = {"__rate_interval": "15s", "__interval": "5s", "__range": "1m"}


#: Datasource types the dashboards query, by the name of the variable that picks one.
DATASOURCE_VARIABLES = {"datasource": "prometheus", "database": "grafana-postgresql-datasource"}


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    description: str
    datasource: dict[str, str]  # {"type": ..., "uid": ...} as the dashboard has it
    text: str  # PromQL or SQL

    @property
    def is_promql(self) -> bool:
        return self.datasource.get("type") == "prometheus"


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def provisioned_uids() -> dict[str, str]:
    """uid -> type of every provisioned datasource."""
    out = {}
    for path in (GRAFANA / "provisioning" / "datasources").glob("*.yaml"):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            out[ds["uid"]] = ds["type"]
    return out


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])  # collapsed rows hold their panels


def queries(name: str, dashboard: Mapping[str, Any]) -> Iterator[Query]:
    for p in panels(dashboard):
        for t in p.get("targets", []):
            ds = t.get("datasource") or p.get("datasource") or {}
            yield Query(
                name,
                p["title"],
                p.get("description", ""),
                ds,
                t.get("expr") or t.get("rawSql") or "",
            )


_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(text: str, values: Mapping[str, str | list[str]], sql: bool = False) -> str:
    """Replace ``$var`` / ``${var}`` (and Grafana's interval variables) the way Grafana does: a
    multi-value variable becomes a regex alternation in PromQL and a quoted list in SQL."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in values:
            raise KeyError(f"undefined variable ${name} in {text!r}")
        value = values[name]
        if isinstance(value, list):
            return (
                ",".join(f"'{v}'" for v in value)
                if sql
                else "(" + "|".join(re.escape(v) for v in value) + ")"
            )
        return value

    return _VAR.sub(repl, text)


def variable_query(var: Mapping[str, Any]) -> str:
    """The query text of a query variable."""
    q = var["query"]
    return q["query"] if isinstance(q, Mapping) else q


_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


def label_values(query: str) -> tuple[str | None, str]:
    """``label_values(selector, label)`` -> (selector, label)."""
    m = _LABEL_VALUES.match(query.strip())
    if not m:
        raise ValueError(f"not a label_values() query: {query!r}")
    return m.group(1), m.group(2)
