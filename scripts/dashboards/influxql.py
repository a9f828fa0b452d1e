"""Raw InfluxQL targets for the SDK's panels.

The SDK ships typed queries for Prometheus, Loki and others but none for InfluxDB, so this module
is the missing piece: a Dataquery model (what lands in a panel's `targets`) and its builder. It is
registered with the SDK's runtime so that `Dashboard.from_json` reads our targets back as this
type, which is how the tests check the generated JSON against the SDK's own model.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.builders import expr
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

# Every panel and variable reads through the `datasource` variable, so an importer picks any
# InfluxQL data source; the provisioned one is the variable's default.
INFLUXDB = dashboard.DataSourceRef(type_val="influxdb", uid="${datasource}")
EXPRESSIONS = "__expr__"  # Grafana's server-side expressions, a data source of their own
EXPRESSION = dashboard.DataSourceRef(type_val=EXPRESSIONS, uid=EXPRESSIONS)
# Grafana expands a multi-value variable inside a regex as (a|b|c), and All as `.*` (allValue).
SITE = '"site" =~ /^$site$/'

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target, the shape Grafana's InfluxDB plugin saves in InfluxQL mode."""

    def __init__(self, ref_id: str = "A", query: str = "", result_format: ResultFormat = "time_series",
                 alias: str | None = None, hide: bool = False) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": INFLUXDB.to_json(),
            "rawQuery": True,
            "query": self.query,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.hide:
            payload["hide"] = True
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        if data.get("rawQuery") is not True or not isinstance(data.get("query"), str):
            raise ValueError(f"Target {data.get('refId')!r} is not a raw InfluxQL query: {data}")
        return cls(ref_id=data["refId"], query=data["query"], result_format=data["resultFormat"],
                   alias=data.get("alias"), hide=data.get("hide", False))


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder for a raw InfluxQL target: `InfluxQL('SELECT ...').ref_id("B").alias("$tag_zone")`."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        """Answer as a table (one row per GROUP BY tag set) instead of time series."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> Self:
        """The series name, e.g. `$tag_zone` (the value of the tag the query groups by)."""
        self._internal.alias = alias
        return self

    def hide(self) -> Self:
        """Run it for an expression of the panel, but do not draw it."""
        self._internal.hide = True
        return self


def math(ref_id: str, expression: str) -> expr.TypeMath:
    """A Grafana server-side math expression over the panel's other targets, e.g. `$A / $B`."""
    return expr.TypeMath().ref_id(ref_id).expression(expression).datasource(EXPRESSION).hide(False)


def share_true(true_points: str, all_points: str) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    """The share of points whose boolean field is true: hidden counts A (true) and B (all), shown `$A / $B`.

    InfluxDB has no mean() of a boolean field (it answers "unsupported mean iterator type"), while
    count() of one and `WHERE "field" = true` work; so a share of booleans (online, lamp on, tap on
    time) is two counts and Grafana's math. Grouped counts are matched by their tags (zone, ...).
    """
    return [InfluxQL(true_points).hide(), InfluxQL(all_points).ref_id("B").hide(), math("C", "$A / $B")]


def decode_target(data: dict[str, Any]) -> cogvariants.Dataquery:
    """A target of an InfluxDB panel: raw InfluxQL, or one of Grafana's expressions over the others.

    The SDK picks the decoder by the *panel's* data source, so the expressions come here too.
    """
    if data.get("datasource", {}).get("type") == EXPRESSIONS:
        return cogruntime.dataquery_from_json(data, EXPRESSIONS)
    return InfluxQLQuery.from_json(data)


def register() -> None:
    """Let `Dashboard.from_json` decode InfluxDB targets as InfluxQLQuery (and not an untyped bag)."""
    cogruntime.Runtime().register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier="influxdb", from_json_hook=decode_target))
