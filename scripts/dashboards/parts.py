"""Pieces every Sitegate dashboard shares: header, variables, links, grid positions, legends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards.influxql import INFLUXDB

# The provisioned data source (dashboards/provisioning/datasource.yaml); the variable's default.
PROVISIONED_SOURCE = model.VariableOption(selected=True, text="Sitegate InfluxDB", value="sitegate-influxdb")
ALL = model.VariableOption(selected=True, text=["All"], value=["$__all"])


def dashboard(uid: str, title: str, description: str, tags: list[str]) -> builders.Dashboard:
    """A Sitegate dashboard: last 7 days, 5-minute refresh, shared crosshair, links to the others."""
    return (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["sitegate", *tags])
        .timezone("browser")
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-7d", "now")
        .refresh("5m")
        .version(1)
        .link(sitegate_links())
    )


def sitegate_links() -> builders.DashboardLink:
    """A menu of the other Sitegate dashboards that carries the variables (var-site) and the time."""
    return (
        builders.DashboardLink("Sitegate dashboards / 看板")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(["sitegate"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )


def datasource_variable() -> builders.DatasourceVariable:
    return (
        builders.DatasourceVariable("datasource")
        .label("Data source / 数据源")
        .type("influxdb")
        .current(PROVISIONED_SOURCE)
    )


def site_variable() -> builders.QueryVariable:
    """Every site in the bucket, whatever it writes (no FROM: all measurements carry `site`)."""
    return tag_variable("site", "Site / 小区", 'SHOW TAG VALUES WITH KEY = "site"')


def tag_variable(name: str, label: str, query: str) -> builders.QueryVariable:
    """A multi-select tag variable with All, whose values are read again when the range changes."""
    return (
        builders.QueryVariable(name)
        .label(label)
        .datasource(INFLUXDB)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .current(ALL)
    )


def at(x: int, y: int, w: int, h: int) -> model.GridPos:
    return model.GridPos(x=x, y=y, w=w, h=h)


def reduce(calc: str) -> common_builders.ReduceDataOptions:
    """A stat's one number: `lastNotNull`, `sum` or `mean` of the series."""
    return common_builders.ReduceDataOptions().calcs([calc]).fields("").values(False)


def legend_table() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.RIGHT)
        .show_legend(True)
        .calcs(["mean", "last"])
    )


def tooltip_all() -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.NONE)


def thresholds(*steps: tuple[float | None, str]) -> builders.ThresholdsConfig:
    """Absolute colour steps; the first has no value (from minus infinity)."""
    return (
        builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def target_95() -> builders.ThresholdsConfig:
    """Red below the 95 % target of the response standards, green from it."""
    return thresholds((None, "red"), (0.95, "green"))


class PanelBuilder(Protocol):
    def id(self, id_val: int) -> cogbuilder.Builder[model.Panel]: ...


def with_panels(board: builders.Dashboard, panels: Sequence[PanelBuilder]) -> builders.Dashboard:
    """Add the panels numbered 1, 2, ... in order (ids are what a panel's link and JSON refer to)."""
    for number, panel in enumerate(panels, start=1):
        board.with_panel(panel.id(number))
    return board
