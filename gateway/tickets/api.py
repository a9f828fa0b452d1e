"""`/api/tickets` (CONTRACT.md): list with filters, one ticket, and the lifecycle actions.

Sync handlers: FastAPI runs them in its thread pool, and the service is thread-safe. The history
records an action under the holder of the request's token (gateway/auth/caller.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi import Request as Request_
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.auth.caller import actor_name, token_holder
from gateway.auth.permissions import Permission, refusal
from gateway.core.clock import Clock
from gateway.tickets.changes import Details, Request, SameActor, StageRefused
from gateway.tickets.lifecycle import ACTIONS, IllegalTransition
from gateway.tickets.service import TicketConflict, TicketNotFound, TicketService

StatusFilter = Literal["open", "acknowledged", "resolved", "closed", "cancelled"]
SeverityFilter = Literal["critical", "major", "minor", "warning"]
SourceFilter = Literal["sensor", "patrol", "complaint", "repair", "planned"]


class ActionBody(BaseModel):
    """What a person sends with an action: a note, and what the stage needs (CONTRACT.md)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4000)
    actor: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="a name the client adds (e.g. who holds a shared token); it goes into the note. The "
                    "history's actor is always the holder of the token that made the request.")
    assignee: str | None = Field(default=None, min_length=1, max_length=200,
                                 description="accept: the person the ticket is dispatched to (default: you)")
    work_done: str = Field(default="", max_length=4000, description="resolve: what was done")
    parts: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="resolve: parts used")
    result: Literal["ok", "failed"] | None = Field(default=None, description="revisit: does the repair hold")
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="revisit: the resident's score, 1..5")
    checkpoint: str | None = Field(default=None, max_length=200,
                                   description="arrive: the checkpoint tapped at the place, as proof")

    def signed_note(self) -> str:
        """The note with the client's name in front of it, so a name nobody verified reads as a claim."""
        if self.actor is None:
            return self.note
        return f"{self.actor}: {self.note}" if self.note else self.actor

    def details(self) -> Details:
        return Details(assignee=self.assignee, work_done=self.work_done, parts=tuple(self.parts),
                       result=self.result, satisfaction=self.satisfaction, checkpoint=self.checkpoint)


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    contact: str = Field(default="", max_length=200)


class RequestBody(BaseModel):
    """A request from a person, registered by the front desk, customer service or a guard."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["complaint", "repair"]
    channel: Literal["phone", "desk", "online", "patrol"]
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    category: str = Field(default="general", min_length=1, max_length=100,
                          description="complaints: service | management | facility; repairs: the facility "
                                      "category of the time-limit table (lighting, water, lift, fire, ...)")
    place: str = Field(default="", max_length=400)
    emergency: bool = False
    reporter: Reporter = Field(default_factory=Reporter)
    zone: str | None = Field(default=None, min_length=1, max_length=200)
    device_id: str | None = Field(default=None, min_length=1, max_length=200)
    checkpoint: str | None = Field(default=None, min_length=1, max_length=200)
    photos: list[Annotated[str, Field(pattern=r"^https?://", max_length=2000)]] = Field(default_factory=list,
                                                                                       max_length=20)
    severity: SeverityFilter | None = None
    reported_at: AwareDatetime | None = Field(default=None, description="when the person called, if earlier")

    def request(self) -> Request:
        return Request(source=self.source, channel=self.channel, title=self.title, description=self.description,
                       category=self.category, place=self.place, emergency=self.emergency,
                       reporter_name=self.reporter.name, reporter_contact=self.reporter.contact,
                       zone=self.zone or "", device_id=self.device_id or "", checkpoint=self.checkpoint or "",
                       photos=tuple(self.photos), severity=self.severity, reported_at=self.reported_at)


# Which permission each action asks of the caller (gateway/auth/permissions.py).
PERMISSION: dict[str, Permission] = {
    "ack": "ticket.ack", "accept": "ticket.accept", "arrive": "ticket.arrive", "resolve": "ticket.resolve",
    "close": "ticket.close", "reopen": "ticket.reopen", "cancel": "ticket.cancel", "revisit": "ticket.revisit",
    "feedback": "ticket.feedback",
}


def _allow(request: Request_, permission: Permission, zone: str | None) -> None:
    reason = refusal(token_holder(request.scope), permission, zone)
    if reason is not None:
        raise HTTPException(403, reason)


def make_router(service: TicketService, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["tickets"])

    @router.get("/tickets")
    def list_tickets(
        status: StatusFilter | None = None,
        device: str | None = None,
        zone: str | None = None,
        severity: SeverityFilter | None = None,
        overdue: bool | None = None,
        source: SourceFilter | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:
        found = service.list(status=status, device=device, zone=zone, severity=severity, overdue=overdue,
                             source=source, limit=limit)
        return [t.to_json() for t in found]

    @router.post("/tickets", status_code=201)
    def create_ticket(body: RequestBody, request: Request_) -> dict[str, Any]:
        """Register a complaint or a repair request; it follows the same loop as a sensor's ticket."""
        _allow(request, "ticket.create", body.zone)
        return service.create(body.request(), actor=actor_name(request.scope), now=clock.now()).to_json()

    @router.get("/tickets/suppressed")
    def list_suppressed(limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
        """Events muted by inhibition (a root-cause ticket) or a maintenance window / drill."""
        return service.suppressed(limit)

    @router.get("/tickets/{ticket_id}")
    def get_ticket(ticket_id: str) -> dict[str, Any]:
        ticket = service.get(ticket_id)
        if ticket is None:
            raise HTTPException(404, f"There is no ticket {ticket_id} at this site; check the id.")
        return ticket.to_json()

    def add_action(action: str) -> None:
        def act(ticket_id: str, request: Request_,
                body: Annotated[ActionBody | None, Body()] = None) -> dict[str, Any]:
            body = body or ActionBody()
            current = service.get(ticket_id)
            if current is None:
                raise HTTPException(404, f"There is no ticket {ticket_id} at this site; check the id.")
            actor = actor_name(request.scope)
            permission = PERMISSION[action]
            if action == "accept" and body.assignee not in (None, actor):
                permission = "ticket.dispatch"  # giving the work to someone else
            _allow(request, permission, current.zone or None)
            if action == "revisit" and body.result is None:
                raise HTTPException(422, "A revisit needs `result`: ok (the repair holds) or failed (it does not).")
            try:
                ticket = service.act(ticket_id, action, actor=actor, note=body.signed_note(), now=clock.now(),
                                     details=body.details())
            except TicketNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except SameActor as exc:
                raise HTTPException(403, str(exc)) from None
            except (IllegalTransition, TicketConflict, StageRefused) as exc:
                raise HTTPException(409, str(exc)) from None
            return ticket.to_json()

        act.__name__ = f"ticket_{action}"
        router.add_api_route(f"/tickets/{{ticket_id}}/{action}", act, methods=["POST"],
                             summary=f"{action} a ticket", name=f"ticket_{action}")

    for action in ACTIONS:
        add_action(action)
    return router
