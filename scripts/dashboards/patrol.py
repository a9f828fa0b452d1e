"""Patrol coverage / 巡更覆盖: rounds, on-time taps and missed checkpoints."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards import parts
from scripts.dashboards.influxql import INFLUXDB, SITE, InfluxQL, share_true

UID = "sitegate-patrol-coverage"
# The dashboard's filters, in every query on patrol_round and patrol_tap.
ROUTES = f'{SITE} AND "route" =~ /^$route$/'


TAPS = f'SELECT count("on_time") FROM "patrol_tap" WHERE {ROUTES} AND $timeFilter'


def headline(title: str, description: str, query: str | list[cogbuilder.Builder[cogvariants.Dataquery]],
             calc: str, x: int) -> stat.Panel:
    return (
        stat.Panel().title(title).description(description).datasource(INFLUXDB).grid_pos(parts.at(x, 0, 6, 4))
        .targets([InfluxQL(query)] if isinstance(query, str) else query)
        .reduce_options(parts.reduce(calc))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE if calc == "sum" else common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.AUTO)
    )


def dashboard() -> builders.Dashboard:
    board = (
        parts.dashboard(UID, "Sitegate · Patrol coverage / 巡更覆盖",
                        "Rounds, on-time taps and missed checkpoints from the patrol_round, patrol_tap and "
                        "ticket_event measurements written by Sitegate gateways.",
                        ["patrol"])
        .with_variable(parts.datasource_variable())
        .with_variable(parts.site_variable())
        .with_variable(parts.tag_variable(
            "route", "Route / 路线", f'SHOW TAG VALUES FROM "patrol_round" WITH KEY = "route" WHERE {SITE}'))
    )
    return parts.with_panels(board, [
        headline("Rounds finished / 完成轮次", "Rounds that ended (completed or incomplete) in the range.",
                 f'SELECT count("coverage") FROM "patrol_round" WHERE {ROUTES} AND $timeFilter', "sum", 0),
        headline("Average coverage / 平均覆盖率", "Mean share of checkpoints visited per round.",
                 f'SELECT mean("coverage") FROM "patrol_round" WHERE {ROUTES} AND $timeFilter', "lastNotNull", 6)
        .unit("percentunit").min(0).max(1)
        .thresholds(parts.thresholds((None, "red"), (0.9, "orange"), (0.95, "green"))),
        headline("On-time taps / 准时打卡率", "Share of checkpoint taps inside their time window.",
                 share_true(f'{TAPS} AND "on_time" = true', TAPS), "lastNotNull", 12)
        .unit("percentunit").min(0).max(1),
        headline("Missed checkpoints / 漏巡点数", "Checkpoints missed over all rounds in the range.",
                 f'SELECT sum("missed") FROM "patrol_round" WHERE {ROUTES} AND $timeFilter', "sum", 18),
        timeseries.Panel().title("Coverage per round by route / 各路线每轮覆盖率")
        .description("One point per round, at its scheduled start.").datasource(INFLUXDB)
        .grid_pos(parts.at(0, 4, 12, 8))
        .with_target(InfluxQL(f'SELECT mean("coverage") FROM "patrol_round" WHERE {ROUTES} AND $timeFilter '
                              'GROUP BY time($__interval), "route" fill(none)').alias("$tag_route"))
        .unit("percentunit").min(0).max(1)
        .legend(parts.legend_table()).tooltip(parts.tooltip_all()),
        timeseries.Panel().title("Missed and late checkpoints per day / 每日漏巡与迟到")
        .description("Sums over the rounds of each day.").datasource(INFLUXDB)
        .grid_pos(parts.at(12, 4, 12, 8))
        .with_target(InfluxQL('SELECT sum("missed") AS "missed", sum("late") AS "late" FROM "patrol_round" '
                              f'WHERE {ROUTES} AND $timeFilter GROUP BY time(1d), "route" fill(0)')
                     .alias("$tag_route $col"))
        .draw_style(common.GraphDrawStyle.BARS).fill_opacity(60)
        .legend(parts.legend_table()).tooltip(parts.tooltip_all()),
        barchart.Panel().title("Rounds with missed checkpoints by zone / 各区域漏巡轮次")
        .description("Missed-checkpoint tickets (one per round) opened in the range, per zone of the round's "
                     "first missed checkpoint.")
        .datasource(INFLUXDB).grid_pos(parts.at(0, 12, 12, 8))
        .with_target(InfluxQL(f'SELECT count("ticket_id") AS "missed" FROM "ticket_event" WHERE {SITE} '
                              "AND \"rule\" = 'patrol.missed_checkpoint' AND \"event\" = 'opened' AND $timeFilter "
                              'GROUP BY "zone"').table())
        .x_field("zone").orientation(common.VizOrientation.HORIZONTAL).show_value(common.VisibilityMode.AUTO),
        timeseries.Panel().title("Tap delay by checkpoint / 各巡更点打卡延迟")
        .description("Seconds after the planned time (negative: early).").datasource(INFLUXDB)
        .grid_pos(parts.at(12, 12, 12, 8))
        .with_target(InfluxQL(f'SELECT mean("delay_s") FROM "patrol_tap" WHERE {ROUTES} AND $timeFilter '
                              'GROUP BY time($__interval), "checkpoint" fill(none)').alias("$tag_checkpoint"))
        .unit("s")
        .legend(parts.legend_table()).tooltip(parts.tooltip_all()),
        table.Panel().title("Taps by result / 打卡结果")
        .description("ok, unknown_tag, out_of_order, duplicate, off_schedule.").datasource(INFLUXDB)
        .grid_pos(parts.at(0, 20, 8, 8))
        .with_target(InfluxQL(f'SELECT count("on_time") AS "taps" FROM "patrol_tap" WHERE {ROUTES} AND $timeFilter '
                              'GROUP BY "result"').table()),
        guards(),
    ])


def guards() -> table.Panel:
    """Per guard: taps, on-time rate and mean delay. The rate is on-time taps over taps (no mean() of a
    boolean in InfluxDB), computed in Grafana after the two answers are joined on the guard."""
    by_guard = f"FROM \"patrol_tap\" WHERE {ROUTES} AND $timeFilter GROUP BY \"guard\""
    return (
        table.Panel().title("Guards / 保安").description("Taps and on-time rate per guard.").datasource(INFLUXDB)
        .grid_pos(parts.at(8, 20, 16, 8))
        .with_target(InfluxQL(f'SELECT count("on_time") AS "taps", mean("delay_s") AS "mean_delay_s" {by_guard}')
                     .table())
        .with_target(InfluxQL(f'SELECT count("on_time") AS "on_time_taps" FROM "patrol_tap" WHERE {ROUTES} '
                              'AND "on_time" = true AND $timeFilter GROUP BY "guard"').table().ref_id("B"))
        .with_transformation(model.DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}}))
        .with_transformation(model.DataTransformerConfig(id_val="joinByField",
                                                         options={"byField": "guard", "mode": "outer"}))
        .with_transformation(model.DataTransformerConfig(id_val="calculateField", options={
            "mode": "binary", "alias": "on_time_rate", "replaceFields": False,
            "binary": {"left": "on_time_taps", "operator": "/", "right": "taps"}}))
        .with_transformation(model.DataTransformerConfig(id_val="organize", options={
            "excludeByName": {"on_time_taps": True},
            "indexByName": {"guard": 0, "taps": 1, "on_time_rate": 2, "mean_delay_s": 3}}))
        # A guard without an on-time tap has no on_time_taps, so no rate: that is 0 %.
        .override_by_name("on_time_rate", [model.DynamicConfigValue(id_val="unit", value="percentunit"),
                                           model.DynamicConfigValue(id_val="noValue", value="0%")])
    )
