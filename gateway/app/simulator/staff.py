"""The people of the site over a month, pure and seeded: what the front desk registers, and when the
engineers, inspectors and customer service act on each ticket. Values in (a day; a ticket as it
stands now), decisions out (`DeskRequest`s and `Step`s with their times). gateway/app/month.py
carries them out through TicketService and MaintenanceService in time order, so the ticket store's
own deadlines judge what was done; `StaffRecord` is the people's own account of what they did (the
truth a report is checked against).

Every draw comes from its own random stream, named by the seed and what it decides (a day's
requests; a ticket, its stage and its cycle), so one decision never shifts another: the same seed
gives the same month whatever order the tickets are seen in.

Distributions (`Habits`; the defaults are a site that mostly keeps its promises):
- front desk, each day: complaints ~ Poisson(1.5), repair requests ~ Poisson(2.5), each registered
  at a uniform time 08:30-20:00; 15% of the repair requests are emergency water leaks (漏水). Title,
  category, zone, building and resident uniform over short lists; channel phone, desk or online.
- respond (accept), arrive, resolve: each stage is on time with its own probability (respond 0.97,
  arrive 0.96, resolve 0.94). On time, it is done after a uniform 10-85% of the time left to its
  deadline; late, after the deadline by a uniform 5-60% of the stage's window (at least 10 min). A
  stage without a deadline (arrive, but for emergencies) takes a uniform 10-40% of the time left to
  the resolve deadline. A device's fault (a sensor or patrol ticket) whose condition has not
  cleared is repaired no earlier than the end of the night's traffic plus 0-90 min (the morning shift): the
  simulated device goes on reporting the fault until its script ends, so a fix made earlier would
  not hold (the gateway would open a new ticket). The engineer who accepts does the rest.
- revisit (回访) by customer service (never the repairer): on time with probability 0.95, at a
  uniform 09:00-17:30 of the day it falls due (or the next 10 min, if the repair came later that
  day); late: the next day 09:00-12:00. Failed with probability 0.06 (satisfaction 1 or 2): the
  ticket reopens and goes round again (when a newer ticket already holds the same fault, the
  revisit is recorded as made, with that low score: the newer ticket is the rework). OK otherwise,
  satisfaction 5 (55%), 4 (35%), 3 (7%), 2 (3%). A ticket fails its revisit at most once (the
  second repair holds).
- planned inspections, by an inspector, who accepts the job when it opens (the respond draw above,
  and before the work starts), then does it: on time with probability 0.96, starting at a uniform
  09:00-17:00 of the due day (or 10-60% into what is left of it, if opened later); late: the next
  day 09:00-12:00. Items one after another, 3-8 min apart; each found faulty with probability 0.002
  (the maintenance service then opens a repair ticket, which the engineers handle like any other).
  Planned work without a checklist (none in the built-in schedules) is resolved as one step.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from gateway.tickets.changes import Details, Request
from gateway.tickets.ticket import Ticket

MIN = timedelta(minutes=1)
DEVICE_SOURCES = ("sensor", "patrol")  # tickets about a device's fault, seen in the night's traffic


@dataclass(frozen=True, slots=True)
class Habits:
    """The distributions' parameters (see the module docstring)."""

    complaints_per_day: float = 1.5
    repairs_per_day: float = 2.5
    leak_share: float = 0.15  # of repair requests: emergency water leaks
    on_time: dict[str, float] = field(default_factory=lambda: {
        "respond": 0.97, "arrive": 0.96, "resolve": 0.94, "revisit": 0.95, "inspect": 0.96})
    revisit_failed: float = 0.06
    satisfaction: tuple[tuple[int, float], ...] = ((5, 0.55), (4, 0.35), (3, 0.07), (2, 0.03))
    item_fault: float = 0.002
    desk_hours: tuple[time, time] = (time(8, 30), time(20, 0))


@dataclass(frozen=True, slots=True)
class Roster:
    desk: tuple[str, ...] = ("前台 孙丽 Sun Li", "前台 赵芳 Zhao Fang")
    engineers: tuple[str, ...] = ("工程 张伟 Zhang Wei", "工程 王磊 Wang Lei", "工程 李强 Li Qiang",
                                  "工程 刘洋 Liu Yang", "工程 陈杰 Chen Jie")
    service: tuple[str, ...] = ("客服 周敏 Zhou Min", "客服 吴静 Wu Jing")
    inspectors: tuple[str, ...] = ("巡检 郑浩 Zheng Hao", "巡检 黄涛 Huang Tao")


COMPLAINTS: tuple[tuple[str, str], ...] = (
    ("楼上噪音 Noise from upstairs at night", "general"),
    ("垃圾未清运 Rubbish not collected", "cleaning"),
    ("电梯异响 Lift makes a grinding noise", "lift"),
    ("车库照明太暗 Garage too dark", "lighting"),
    ("快递堆放堵塞走廊 Parcels blocking the corridor", "security"),
    ("绿化未修剪 Hedges overgrown", "general"),
)
REPAIRS: tuple[tuple[str, str], ...] = (
    ("水龙头漏水 Dripping tap", "plumbing"),
    ("走廊灯不亮 Corridor light out", "lighting"),
    ("门禁刷卡失灵 Entry card reader fails", "security"),
    ("空调不制冷 Air conditioning not cooling", "hvac"),
    ("下水道堵塞 Blocked drain", "plumbing"),
    ("插座没电 Socket dead", "power"),
)
LEAK = ("漏水 Water leak: ceiling dripping", "water")
ZONES = ("b1", "b2", "b3", "b4", "b5", "garage")
RESIDENTS = ("王女士 Ms Wang", "李先生 Mr Li", "张阿姨 Auntie Zhang", "陈先生 Mr Chen", "刘女士 Ms Liu",
             "赵先生 Mr Zhao", "黄女士 Ms Huang", "周先生 Mr Zhou")
CHANNELS = ("phone", "desk", "online")


@dataclass(frozen=True, slots=True)
class DeskRequest:
    at: datetime
    actor: str
    request: Request


@dataclass(frozen=True, slots=True)
class Step:
    """One thing one person does to one ticket at one time."""

    at: datetime
    ticket_id: str
    action: str  # accept | arrive | resolve | revisit | inspect (one checklist item)
    actor: str
    late: bool  # done after the deadline the person had in front of them
    details: Details | None = None
    note: str = ""
    item: int = -1  # inspect: the checklist item
    result: str = ""  # inspect: ok | fault
    last: bool = False  # inspect: the ticket's last item


@dataclass
class StaffRecord:
    """What the people did, in their own words: the truth a report is compared with."""

    registered: Counter[str] = field(default_factory=Counter)  # desk requests by source
    emergencies: int = 0
    done: Counter[str] = field(default_factory=Counter)  # steps carried out, by action
    late: Counter[str] = field(default_factory=Counter)  # ... of which after their deadline
    skipped: Counter[str] = field(default_factory=Counter)  # the ticket had moved on (resolved by itself)
    revisits: dict[str, list[tuple[str, int | None, bool]]] = field(default_factory=dict)  # id -> (result, score, late)
    inspected: dict[str, bool] = field(default_factory=dict)  # planned ticket id -> finished late
    faults_found: list[str] = field(default_factory=list)  # planned ticket ids with an item found faulty

    @property
    def failed(self) -> list[str]:
        """Tickets whose revisit failed (reopened: rework)."""
        return sorted(t for t, rs in self.revisits.items() if any(r == "failed" for r, _, _ in rs))

    def note(self, step: Step) -> None:
        if step.action == "inspect":
            self.done["inspect_item"] += 1
            if step.result == "fault":
                self.faults_found.append(step.ticket_id)
            if step.last:
                self.inspected[step.ticket_id] = step.late
            return
        self.done[step.action] += 1
        self.late[step.action] += step.late
        if step.action == "revisit" and step.details is not None and step.details.result is not None:
            self.revisits.setdefault(step.ticket_id, []).append(
                (step.details.result, step.details.satisfaction, step.late))


def stream(seed: int, *names: object) -> random.Random:
    """The random stream of one decision: a string seed is hashed (sha512), so streams are independent."""
    return random.Random("/".join(map(str, (seed, *names))))


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _at(day: date, start: time, end: time, rng: random.Random, tz: tzinfo) -> datetime:
    a, b = datetime.combine(day, start, tz), datetime.combine(day, end, tz)
    return a + (b - a) * rng.random()


def desk_requests(day: date, *, seed: int, tz: tzinfo, habits: Habits = Habits(),
                  roster: Roster = Roster()) -> list[DeskRequest]:
    """The complaints and repair requests the front desk registers on `day`, in time order."""
    rng = stream(seed, "desk", day.isoformat())
    out: list[DeskRequest] = []
    sources = (["complaint"] * _poisson(rng, habits.complaints_per_day)
               + ["repair"] * _poisson(rng, habits.repairs_per_day))
    for source in sources:
        leak = source == "repair" and rng.random() < habits.leak_share
        title, category = LEAK if leak else rng.choice(COMPLAINTS if source == "complaint" else REPAIRS)
        zone = rng.choice(ZONES)
        place = (f"车库 Garage B{rng.randint(1, 2)}" if zone == "garage"
                 else f"{zone[1]}号楼 {rng.randint(2, 18)}{rng.randint(1, 4):02d}")
        request = Request(source=source, channel=rng.choice(CHANNELS), title=title, category=category, zone=zone,
                          place=place, emergency=leak, reporter_name=rng.choice(RESIDENTS),
                          description=f"{title} @ {place}")
        out.append(DeskRequest(_at(day, *habits.desk_hours, rng, tz), rng.choice(roster.desk), request))
    return sorted(out, key=lambda r: r.at)


def _when(rng: random.Random, now: datetime, deadline: datetime, window: timedelta, p_on_time: float) -> datetime:
    """On time (10-85% of what is left), or late (5-60% of the window past the deadline, >= 10 min)."""
    left = deadline - now
    if left > MIN and rng.random() < p_on_time:
        return now + left * rng.uniform(0.10, 0.85)
    return max(now, deadline) + max(10 * MIN, window * rng.uniform(0.05, 0.60))


def next_step(t: Ticket, now: datetime, *, seed: int, tz: tzinfo, habits: Habits = Habits(),
              roster: Roster = Roster(), morning: datetime | None = None) -> Step | None:
    """The next thing a person does to an unplanned ticket as it stands at `now`; None when nothing
    is left to do. `morning`: when the night's traffic ends (a device's fault is repaired after it)."""
    cycle = t.reopen_count
    start = t.sla_started_at or t.opened_at
    resolve_due = t.resolve_due_at or start + timedelta(hours=72)
    if t.status == "open" and t.acknowledged_at is None:
        rng = stream(seed, t.id, "respond", cycle)
        who = rng.choice(roster.engineers)
        due = t.respond_due_at or resolve_due
        at = _when(rng, now, due, due - start, habits.on_time["respond"])
        return Step(at, t.id, "accept", who, at > due, Details(assignee=who))
    who = t.assignee or roster.engineers[0]
    if t.status in ("open", "acknowledged") and t.arrived_at is None:
        rng = stream(seed, t.id, "arrive", cycle)
        if t.arrive_due_at is not None:
            at = _when(rng, now, t.arrive_due_at, t.arrive_due_at - start, habits.on_time["arrive"])
            return Step(at, t.id, "arrive", who, at > t.arrive_due_at)
        at = now + max(MIN, (resolve_due - now) * rng.uniform(0.10, 0.40))
        return Step(at, t.id, "arrive", who, False)
    if t.status in ("open", "acknowledged"):
        rng = stream(seed, t.id, "resolve", cycle)
        at = _when(rng, now, resolve_due, resolve_due - start, habits.on_time["resolve"])
        if morning is not None and t.source in DEVICE_SOURCES and not t.condition_cleared:
            at = max(at, morning + 90 * MIN * rng.random())
        return Step(at, t.id, "resolve", who, at > resolve_due, note="repaired 已修复",
                    details=Details(work_done=f"repaired: {t.title}"))
    if t.status == "resolved" and t.revisit_due_at is not None and (
            t.revisited_at is None or (t.resolved_at is not None and t.revisited_at < t.resolved_at)):
        return _revisit(t, now, seed=seed, tz=tz, habits=habits, roster=roster)
    return None


def _revisit(t: Ticket, now: datetime, *, seed: int, tz: tzinfo, habits: Habits, roster: Roster) -> Step:
    assert t.revisit_due_at is not None
    rng = stream(seed, t.id, "revisit", t.reopen_count)
    due = t.revisit_due_at
    day = due.astimezone(tz).date()
    if rng.random() < habits.on_time["revisit"]:
        at = _at(day, time(9, 0), time(17, 30), rng, tz)
        if at <= now:
            at = now + MIN + 10 * MIN * rng.random()
    else:
        at = max(now, _at(day + timedelta(days=1), time(9, 0), time(12, 0), rng, tz))
    who = rng.choice([s for s in roster.service if s != t.resolved_by])
    failed = t.reopen_count == 0 and rng.random() < habits.revisit_failed
    if failed:
        score, result = rng.choice((1, 2)), "failed"
    else:
        draw, score, result = rng.random(), habits.satisfaction[-1][0], "ok"
        for value, share in habits.satisfaction:
            if draw < share:
                score = value
                break
            draw -= share
    return Step(at, t.id, "revisit", who, at > due, Details(result=result, satisfaction=score),
                note="回访 called the resident")


def inspection_steps(t: Ticket, now: datetime, *, seed: int, tz: tzinfo, habits: Habits = Habits(),
                     roster: Roster = Roster()) -> list[Step]:
    """An open planned ticket's checklist, item by item (or its resolution, without a checklist)."""
    due = t.resolve_due_at or now + timedelta(days=1)
    rng = stream(seed, t.id, "inspect")
    day = due.astimezone(tz).date()
    who = rng.choice(roster.inspectors)
    if rng.random() < habits.on_time["inspect"]:
        at = _at(day, time(9, 0), time(17, 0), rng, tz)
        if at <= now:
            at = now + max(MIN, (due - now) * rng.uniform(0.10, 0.60))
    else:
        at = max(now, _at(day + timedelta(days=1), time(9, 0), time(12, 0), rng, tz))
    steps = []
    if t.status == "open":
        # The job is handed out (接单) within the respond deadline like any ticket's, and always
        # before the work starts: planned work opened days ahead is accepted then, done on its day.
        respond_due = t.respond_due_at or due
        accept = _when(rng, now, respond_due, respond_due - t.opened_at, habits.on_time["respond"])
        accept = min(accept, max(now, at - rng.uniform(1, 30) * MIN))
        steps.append(Step(accept, t.id, "accept", who, accept > respond_due, Details(assignee=who)))
    items = len(t.checklist)
    if not items:
        return [*steps, Step(at, t.id, "resolve", who, at > due, Details(work_done="done as planned 按计划完成"))]
    for index in range(items):
        last = index == items - 1
        result = "fault" if rng.random() < habits.item_fault else "ok"
        steps.append(Step(at, t.id, "inspect", who, last and at > due, item=index, result=result, last=last,
                          note="found faulty 发现故障" if result == "fault" else ""))
        at += rng.uniform(3, 8) * MIN
    return steps
