"""Equipment health / 设备健康: online ratio, health, pressure and lamps, open tickets and SLA."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards import parts
from scripts.dashboards.influxql import INFLUXDB, SITE, InfluxQL, math, share_true

UID = "sitegate-equipment-health"
# The dashboard's filters, in every query on equipment_health and reading.
DEVICES = f'{SITE} AND "zone" =~ /^$zone$/ AND "kind" =~ /^$kind$/'
ZONE = f'{SITE} AND "zone" =~ /^$zone$/'


def per_device(field: str, alias: str, aggregate: str, where: str = "") -> str:
    """The fleet figure of one equipment_health field: its latest value per device, then aggregated."""
    return (f'SELECT {aggregate}("{alias}") FROM (SELECT last("{field}") AS "{alias}" FROM "equipment_health" '
            f'WHERE {DEVICES} AND $timeFilter GROUP BY "device"){where}')


def per_zone_share(field: str, measurement: str, where: str) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    """Per zone and interval, the share of a boolean field's points that are true."""
    count = f'SELECT count("{field}") FROM "{measurement}" WHERE {where} AND $timeFilter'
    return share_true(f'{count} AND "{field}" = true GROUP BY time($__interval), "zone" fill(0)',
                      f'{count} GROUP BY time($__interval), "zone" fill(none)')


def headline(title: str, description: str, x: int, *queries: cogbuilder.Builder[cogvariants.Dataquery]) -> stat.Panel:
    return (
        stat.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(parts.at(x, 0, 6, 4))
        .targets(list(queries))
        .reduce_options(parts.reduce("lastNotNull"))
        .color_mode(common.BigValueColorMode.VALUE).graph_mode(common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.AUTO)
    )


def acknowledged_within(title: str, description: str, seconds: int, severity: str, x: int) -> stat.Panel:
    """Share of tickets acknowledged within `seconds`: two counts and their ratio (InfluxQL has no join)."""
    where = f"{ZONE}{severity} AND \"event\" = 'acknowledged'"
    return (
        stat.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(parts.at(x, 0, 3, 4))
        .with_target(InfluxQL(f'SELECT count("response_s") FROM "ticket_event" WHERE {where} '
                              f'AND "response_s" <= {seconds} AND $timeFilter').hide())
        .with_target(InfluxQL(f'SELECT count("response_s") FROM "ticket_event" WHERE {where} AND $timeFilter')
                     .ref_id("B").hide())
        .with_target(math("C", "$A / $B"))
        .unit("percentunit").min(0).max(1).thresholds(parts.target_95())
        .reduce_options(parts.reduce("lastNotNull"))
        .color_mode(common.BigValueColorMode.BACKGROUND).graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE)
    )


def trend(title: str, description: str, query: str, alias: str, pos: model.GridPos) -> timeseries.Panel:
    return (
        timeseries.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(pos)
        .with_target(InfluxQL(query).alias(alias))
        .legend(parts.legend_table()).tooltip(parts.tooltip_all())
    )


def share_by_zone(title: str, description: str, queries: list[cogbuilder.Builder[cogvariants.Dataquery]],
                  pos: model.GridPos) -> timeseries.Panel:
    """A share (0..1) per zone from share_true(); the series are named by their zone label."""
    return (
        timeseries.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(pos)
        .targets(queries).display_name("${__field.labels.zone}")
        .unit("percentunit").min(0).max(1)
        .legend(parts.legend_table()).tooltip(parts.tooltip_all())
    )


def dashboard() -> builders.Dashboard:
    board = (
        parts.dashboard(UID, "Sitegate · Equipment health / 设备健康",
                        "Online ratio, health score, pressure and lamp trends, open tickets and SLA from the "
                        "reading, equipment_health and ticket_event measurements written by Sitegate gateways.",
                        ["equipment"])
        .with_variable(parts.datasource_variable())
        .with_variable(parts.site_variable())
        .with_variable(parts.tag_variable(
            "zone", "Zone / 区域", f'SHOW TAG VALUES FROM "equipment_health" WITH KEY = "zone" WHERE {SITE}'))
        .with_variable(parts.tag_variable(
            "kind", "Kind / 类型", f'SHOW TAG VALUES FROM "equipment_health" WITH KEY = "kind" WHERE {SITE}'))
    )
    return parts.with_panels(board, [
        headline("Online / 在线率", "Share of devices online (latest value per device).", 0,
                 *share_true(per_device("online", "online", "count", ' WHERE "online" = true'),
                             per_device("online", "online", "count")))
        .unit("percentunit").min(0).max(1),
        headline("Mean health / 平均健康度", "Health score 0..1 (see dashboards/README.md), latest per device.", 6,
                 InfluxQL(per_device("health", "health", "mean"))).decimals(2).min(0).max(1),
        headline("Open tickets / 未关闭工单", "Open tickets on devices now (latest per device).", 12,
                 InfluxQL(per_device("open_tickets", "open", "sum"))),
        acknowledged_within("Responded within 2 h / 2小时内响应",
                            "Share of tickets acknowledged within 2 h of opening (normal response standard; "
                            "target 95 %).", 7200, "", 18),
        acknowledged_within("Critical within 1 h / 紧急1小时内", "Share of critical tickets acknowledged within 1 h.",
                            3600, " AND \"severity\" = 'critical'", 21),
        share_by_zone("Online ratio by zone / 各区域在线率",
                      "Share of the health points that say online, over the zone's devices and the interval.",
                      per_zone_share("online", "equipment_health", DEVICES), parts.at(0, 4, 12, 8)),
        trend("Health by zone / 各区域健康度", "Mean health score per zone.",
              f'SELECT mean("health") FROM "equipment_health" WHERE {DEVICES} AND $timeFilter '
              'GROUP BY time($__interval), "zone" fill(previous)', "$tag_zone", parts.at(12, 4, 12, 8))
        .min(0).max(1),
        bargauge.Panel().title("Health by kind / 各类设备健康度")
        .description("Mean health score per device kind over the range.").datasource(INFLUXDB)
        .grid_pos(parts.at(0, 12, 8, 8))
        .with_target(InfluxQL(f'SELECT mean("health") FROM "equipment_health" WHERE {DEVICES} AND $timeFilter '
                              'GROUP BY "kind"').alias("$tag_kind"))
        .min(0).max(1)
        .orientation(common.VizOrientation.HORIZONTAL).display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(parts.reduce("mean")),
        trend("Extinguisher, hydrant and sprinkler pressure / 灭火器与消防栓压力",
              "Gauge pressure per device; extinguishers normally read in the green band of their gauge.",
              f'SELECT mean("pressure_mpa") FROM "reading" WHERE {ZONE} '
              'AND "kind" =~ /^(extinguisher|hydrant|sprinkler)$/ AND $timeFilter '
              'GROUP BY time($__interval), "device" fill(none)', "$tag_device", parts.at(8, 12, 16, 8))
        .unit("suffix: MPa").decimals(2),
        share_by_zone("Lamps on / 亮灯比例", "Share of lamp readings that say on, per zone.",
                      per_zone_share("power_on", "reading", f"{ZONE} AND \"kind\" = 'lamp'"), parts.at(0, 20, 8, 8)),
        trend("Lamp current / 灯具电流", "A lamp that is on but draws no current is out.",
              f"SELECT mean(\"current_a\") FROM \"reading\" WHERE {ZONE} AND \"kind\" = 'lamp' AND $timeFilter "
              'GROUP BY time($__interval), "device" fill(none)', "$tag_device", parts.at(8, 20, 8, 8))
        .unit("amp"),
        trend("Illuminance / 照度", "Lux sensors per zone.",
              f"SELECT mean(\"illuminance_lux\") FROM \"reading\" WHERE {ZONE} AND \"kind\" = 'lux_sensor' "
              'AND $timeFilter GROUP BY time($__interval), "zone" fill(none)', "$tag_zone", parts.at(16, 20, 8, 8))
        .unit("lux"),
        trend("Open tickets by zone / 各区域未关闭工单", "Sum over devices of their open tickets.",
              f'SELECT sum("open") FROM (SELECT last("open_tickets") AS "open" FROM "equipment_health" '
              f'WHERE {DEVICES} AND $timeFilter GROUP BY time($__interval), "device", "zone" fill(previous)) '
              'GROUP BY time($__interval), "zone"', "$tag_zone", parts.at(0, 28, 12, 8)),
        trend("Tickets opened per day / 每日新工单", "By severity.",
              f"SELECT count(\"ticket_id\") FROM \"ticket_event\" WHERE {ZONE} AND \"event\" = 'opened' "
              'AND $timeFilter GROUP BY time(1d), "severity" fill(0)', "$tag_severity", parts.at(12, 28, 12, 8))
        .draw_style(common.GraphDrawStyle.BARS).fill_opacity(60),
        table.Panel().title("Response and resolve times / 响应与处理时长")
        .description("Mean and worst seconds per severity (standards: emergency on site within 1 h, response "
                     "within 2 h, complaints handled within 48 h).")
        .datasource(INFLUXDB).grid_pos(parts.at(0, 36, 24, 8))
        .with_target(InfluxQL('SELECT mean("response_s") AS "mean_response_s", max("response_s") AS "max_response_s" '
                              f"FROM \"ticket_event\" WHERE {ZONE} AND \"event\" = 'acknowledged' AND $timeFilter "
                              'GROUP BY "severity"').table())
        .with_target(InfluxQL('SELECT mean("resolve_s") AS "mean_resolve_s", max("resolve_s") AS "max_resolve_s" '
                              f"FROM \"ticket_event\" WHERE {ZONE} AND \"event\" = 'resolved' AND $timeFilter "
                              'GROUP BY "severity"').table().ref_id("B"))
        .unit("s")
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={})),
    ])
