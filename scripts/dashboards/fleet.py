"""Fleet / 集团总览: every site side by side, with a click through to one site's own dashboards.

Head office reads one InfluxDB bucket that every site writes with its `site` tag, so each figure
here is the per-site dashboards' figure grouped by "site". A site row or series links to the
equipment and patrol dashboards with `var-site` set to that site (and the same data source and
time range).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards import equipment, parts, patrol
from scripts.dashboards.influxql import INFLUXDB, SITE, InfluxQL, math

UID = "sitegate-fleet"
TICKETS = f"SELECT count(\"ticket_id\") FROM \"ticket_event\" WHERE {SITE} AND \"event\" = 'opened' AND $timeFilter"
ACKNOWLEDGED = f"FROM \"ticket_event\" WHERE {SITE} AND \"event\" = 'acknowledged'"


def latest_per_device(field: str, alias: str, by: str = "") -> str:
    """Subquery: the latest value of an equipment_health field per device (per `by` interval if given)."""
    interval = f"time({by}), " if by else ""
    fill = " fill(previous)" if by else ""
    return (f'SELECT last("{field}") AS "{alias}" FROM "equipment_health" WHERE {SITE} AND $timeFilter '
            f'GROUP BY {interval}"site", "device"{fill}')


def drill_down(site: str) -> list[cogbuilder.Builder[model.DashboardLink]]:
    """Links to one site's dashboards; `site` is a Grafana expression such as ${__field.labels.site}."""
    keep = "var-datasource=${datasource}&${__url_time_range}"
    return [
        builders.DashboardLink(f"{title} · {site}").url(f"/d/{uid}/{uid}?var-site={site}&{keep}")
        for title, uid in (("Equipment health / 设备健康", equipment.UID), ("Patrol coverage / 巡更覆盖", patrol.UID))
    ]


def total(title: str, description: str, pos: model.GridPos, *queries: InfluxQL) -> stat.Panel:
    panel = (
        stat.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(pos)
        .reduce_options(parts.reduce("lastNotNull"))
        .color_mode(common.BigValueColorMode.VALUE).graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.AUTO)
    )
    for query in queries:
        panel.with_target(query)
    return panel


def by_site(title: str, description: str, query: str, pos: model.GridPos) -> timeseries.Panel:
    """One series per site (the query groups by "site"), each linking to that site's dashboards."""
    return (
        timeseries.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(pos)
        .with_target(InfluxQL(query).alias("$tag_site"))
        .legend(parts.legend_table()).tooltip(parts.tooltip_all())
        .data_links(drill_down("${__field.labels.site}"))
    )


def responded_by_site(pos: model.GridPos) -> timeseries.Panel:
    """Per site and day, acknowledged within 2 h over all acknowledged; the math keeps the site label."""
    within = InfluxQL(f'SELECT count("response_s") {ACKNOWLEDGED} AND "response_s" <= 7200 AND $timeFilter '
                      'GROUP BY time(1d), "site" fill(0)').hide()
    every = InfluxQL(f'SELECT count("response_s") {ACKNOWLEDGED} AND $timeFilter '
                     'GROUP BY time(1d), "site" fill(none)').ref_id("B").hide()
    return (
        timeseries.Panel().title("Responded within 2 h by site / 各小区2小时内响应率")
        .description("Per day: tickets acknowledged within 2 h over all acknowledged (target 95 %).")
        .datasource(INFLUXDB).grid_pos(pos)
        .with_target(within).with_target(every).with_target(math("C", "$A / $B"))
        .display_name("${__field.labels.site}")
        .unit("percentunit").min(0).max(1).thresholds(parts.target_95())
        .legend(parts.legend_table()).tooltip(parts.tooltip_all())
        .data_links(drill_down("${__field.labels.site}"))
    )


def column(name: str, *properties: tuple[str, object]) -> list[model.DynamicConfigValue]:
    return [model.DynamicConfigValue(id_val="displayName", value=name),
            *(model.DynamicConfigValue(id_val=key, value=value) for key, value in properties)]


def sites_table() -> table.Panel:
    """One row per site. Each query answers per site; the frames are joined on the site column."""
    queries = {
        "open": f'SELECT sum("open") AS "open" FROM ({latest_per_device("open_tickets", "open")}) GROUP BY "site"',
        "offline": f'SELECT count("online") AS "offline" FROM ({latest_per_device("online", "online")}) '
                   'WHERE "online" = false GROUP BY "site"',
        "health": f'SELECT mean("health") AS "health" FROM ({latest_per_device("health", "health")}) '
                  'GROUP BY "site"',
        "coverage": f'SELECT mean("coverage") AS "coverage", sum("missed") AS "missed" FROM "patrol_round" '
                    f'WHERE {SITE} AND $timeFilter GROUP BY "site"',
        "opened": f"SELECT count(\"ticket_id\") AS \"opened\" FROM \"ticket_event\" WHERE {SITE} "
                  "AND \"event\" = 'opened' AND $timeFilter GROUP BY \"site\"",
    }
    panel = (
        table.Panel().title("Sites / 各小区")
        .description("Per site: open tickets and devices offline now (latest per device), mean health now, "
                     "patrol coverage and missed checkpoints, and tickets opened in the range. Click a site "
                     "for its own dashboards.")
        .datasource(INFLUXDB).grid_pos(parts.at(0, 4, 24, 9))
        .data_links(drill_down("${__data.fields.site}"))
        # Every query's Time column is the range start; drop them so the frames join on site alone.
        .with_transformation(model.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}}))
        .with_transformation(model.DataTransformerConfig(id_val="joinByField",
                                                         options={"byField": "site", "mode": "outer"}))
        .sort_by([common_builders.TableSortByFieldState().display_name("Open tickets / 未关闭工单").desc(True)])
        .override_by_name("site", column("Site / 小区"))
        .override_by_name("open", column("Open tickets / 未关闭工单", ("noValue", "0")))
        .override_by_name("offline", column("Devices offline / 离线设备", ("noValue", "0")))
        .override_by_name("health", column("Mean health / 平均健康度", ("decimals", 2)))
        .override_by_name("coverage", column("Patrol coverage / 巡更覆盖率", ("unit", "percentunit")))
        .override_by_name("missed", column("Missed checkpoints / 漏巡点数"))
        .override_by_name("opened", column("Tickets opened / 新工单", ("noValue", "0")))
    )
    for ref_id, query in zip("ABCDE", queries.values(), strict=True):
        panel.with_target(InfluxQL(query).table().ref_id(ref_id))
    return panel


def dashboard() -> builders.Dashboard:
    board = (
        parts.dashboard(UID, "Sitegate · Fleet / 集团总览",
                        "Every site side by side: open tickets, devices offline, health, patrol coverage and "
                        "ticket timeliness per site, from the equipment_health, patrol_round and ticket_event "
                        "measurements; each site links to its own dashboards.",
                        ["fleet"])
        .with_variable(parts.datasource_variable())
        .with_variable(parts.site_variable())
    )
    return parts.with_panels(board, [
        total("Sites reporting / 上报小区", "Sites with equipment health points in the range.",
              parts.at(0, 0, 4, 4),
              InfluxQL(f'SELECT count("health") FROM ({latest_per_device("health", "health")})')),
        total("Open tickets / 未关闭工单", "Open tickets on devices now, all selected sites.",
              parts.at(4, 0, 4, 4),
              InfluxQL(f'SELECT sum("open") FROM ({latest_per_device("open_tickets", "open")})')),
        total("Devices offline / 离线设备", "Devices whose latest health point says offline.",
              parts.at(8, 0, 4, 4),
              InfluxQL(f'SELECT count("online") FROM ({latest_per_device("online", "online")}) '
                       'WHERE "online" = false'))
        .no_value("0").thresholds(parts.thresholds((None, "green"), (1, "red"))),
        total("Patrol coverage / 巡更覆盖率", "Mean share of checkpoints visited per round, all sites.",
              parts.at(12, 0, 4, 4),
              InfluxQL(f'SELECT mean("coverage") FROM "patrol_round" WHERE {SITE} AND $timeFilter'))
        .unit("percentunit").min(0).max(1).thresholds(parts.target_95()),
        total("Responded within 2 h / 2小时内响应", "Share of tickets acknowledged within 2 h (target 95 %).",
              parts.at(16, 0, 4, 4),
              InfluxQL(f'SELECT count("response_s") {ACKNOWLEDGED} AND "response_s" <= 7200 AND $timeFilter').hide(),
              InfluxQL(f'SELECT count("response_s") {ACKNOWLEDGED} AND $timeFilter').ref_id("B").hide())
        .with_target(math("C", "$A / $B"))
        .unit("percentunit").min(0).max(1).thresholds(parts.target_95()),
        total("Tickets opened / 新工单", "Tickets opened in the range, all selected sites.",
              parts.at(20, 0, 4, 4), InfluxQL(TICKETS)),
        sites_table(),
        by_site("Open tickets by site / 各小区未关闭工单", "Sum over each site's devices of their open tickets.",
                f'SELECT sum("open") FROM ({latest_per_device("open_tickets", "open", "$__interval")}) '
                'GROUP BY time($__interval), "site"', parts.at(0, 13, 12, 8)),
        by_site("Devices offline by site / 各小区离线设备", "Devices whose latest point in each interval says offline.",
                f'SELECT count("online") FROM ({latest_per_device("online", "online", "$__interval")}) '
                'WHERE "online" = false GROUP BY time($__interval), "site" fill(0)', parts.at(12, 13, 12, 8)),
        by_site("Patrol coverage by site / 各小区巡更覆盖率", "Mean coverage of the rounds of each day.",
                f'SELECT mean("coverage") FROM "patrol_round" WHERE {SITE} AND $timeFilter '
                'GROUP BY time(1d), "site" fill(none)', parts.at(0, 21, 12, 8))
        .unit("percentunit").min(0).max(1),
        responded_by_site(parts.at(12, 21, 12, 8)),
        by_site("Mean health by site / 各小区平均健康度", "Mean health score over each site's devices.",
                f'SELECT mean("health") FROM "equipment_health" WHERE {SITE} AND $timeFilter '
                'GROUP BY time($__interval), "site" fill(previous)', parts.at(0, 29, 12, 8))
        .min(0).max(1),
        by_site("Tickets opened per day by site / 各小区每日新工单", "Ticket events of kind opened, per day.",
                f'{TICKETS} GROUP BY time(1d), "site" fill(0)', parts.at(12, 29, 12, 8))
        .draw_style(common.GraphDrawStyle.BARS).fill_opacity(60),
    ])
