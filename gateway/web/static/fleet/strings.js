// The fleet page's labels in both languages; the language itself is the site dashboard's (i18n.js),
// so a person who chose 中文 on a site page sees 中文 here too.

import {lang} from "../i18n.js";

export const FLEET_STRINGS = {
  en: {
    "app.title": "Sitegate head office",
    "lang.switch": "中文",
    "token.title": "Sign in", "token.label": "Access token", "token.save": "Sign in", "token.cancel": "Cancel",
    "sites.title": "All sites",
    "sites.summary": "{n} sites · {open} open tickets · {overdue} overdue · {critical} critical",
    "col.status": "Status", "col.name": "Site", "col.open_tickets": "Open", "col.overdue_tickets": "Overdue",
    "col.critical_tickets": "Critical", "col.timeliness_month": "Timeliness (month)",
    "col.patrol_coverage_last_night": "Patrol last night", "col.devices_offline": "Devices offline",
    "col.last_heard": "Last heard", "col.links": "Links",
    "status.red": "Red", "status.amber": "Amber", "status.green": "Green", "status.unknown": "Unknown",
    "link.site": "Details", "link.dashboard": "Site dashboard",
    "site.back": "← All sites", "site.tickets": "Tickets", "site.rounds": "Patrol rounds",
    "site.none": "None.", "ticket.id": "Ticket", "ticket.severity": "Severity", "ticket.status": "Status",
    "ticket.title": "Title", "ticket.opened": "Opened", "ticket.overdue": "Overdue",
    "round.route": "Route", "round.start": "Scheduled", "round.coverage": "Coverage", "round.missed": "Missed",
    "common.loading": "Loading…", "common.failed": "Could not load: {reason}", "common.yes": "yes",
    "cause.critical": "{count} critical open", "cause.overdue": "{count} overdue",
    "cause.offline": "{count} devices offline", "cause.silent": "not heard for {minutes} min",
    "cause.never_heard": "never heard from", "cause.degraded": "gateway degraded",
  },
  zh: {
    "app.title": "Sitegate 总部看板",
    "lang.switch": "English",
    "token.title": "登录", "token.label": "访问令牌", "token.save": "登录", "token.cancel": "取消",
    "sites.title": "全部站点",
    "sites.summary": "共 {n} 个站点 · 未关闭工单 {open} · 超时 {overdue} · 紧急 {critical}",
    "col.status": "状态", "col.name": "站点", "col.open_tickets": "未关闭", "col.overdue_tickets": "超时",
    "col.critical_tickets": "紧急", "col.timeliness_month": "本月及时率",
    "col.patrol_coverage_last_night": "昨晚巡更覆盖率", "col.devices_offline": "离线设备",
    "col.last_heard": "最近消息", "col.links": "链接",
    "status.red": "红", "status.amber": "黄", "status.green": "绿", "status.unknown": "未知",
    "link.site": "详情", "link.dashboard": "站点看板",
    "site.back": "← 全部站点", "site.tickets": "工单", "site.rounds": "巡更",
    "site.none": "无。", "ticket.id": "工单", "ticket.severity": "级别", "ticket.status": "状态",
    "ticket.title": "标题", "ticket.opened": "登记时间", "ticket.overdue": "超时",
    "round.route": "路线", "round.start": "计划开始", "round.coverage": "覆盖率", "round.missed": "漏巡",
    "common.loading": "加载中…", "common.failed": "加载失败：{reason}", "common.yes": "是",
    "cause.critical": "紧急工单 {count} 张", "cause.overdue": "超时工单 {count} 张",
    "cause.offline": "离线设备 {count} 台", "cause.silent": "已 {minutes} 分钟未收到消息",
    "cause.never_heard": "从未收到消息", "cause.degraded": "网关降级运行",
  },
};

/** The label for `key` in the current language, {name} placeholders filled. */
export function ft(key, params = {}) {
  const table = FLEET_STRINGS[lang()] || FLEET_STRINGS.en;
  const text = table[key] ?? FLEET_STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}
