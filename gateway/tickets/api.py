"""`/api/tickets` (CONTRACT.md): list with filters, one ticket, and the lifecycle actions.

Sync handlers: FastAPI runs them in its thread pool, and the service is thread-safe. The history
records an action under the holder of the request's token (gateway/auth/caller.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.caller import actor_name
from gateway.core.clock import Clock
from gateway.tickets.lifecycle import ACTIONS, IllegalTransition
from gateway.tickets.service import TicketConflict, TicketNotFound, TicketService

StatusFilter = Literal["open", "acknowledged", "resolved", "closed", "cancelled"]
SeverityFilter = Literal["critical", "major", "minor", "warning"]


class ActionBody(BaseModel):
    """What a person sends with an action. For close, write `revisit: ok` or `revisit: failed` in the note."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4000)
    actor: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="a name the client adds (e.g. who holds a shared token); it goes into the note. The "
                    "history's actor is always the holder of the token that made the request.")

    def signed_note(self) -> str:
        """The note with the client's name in front of it, so a name nobody verified reads as a claim."""
        if self.actor is None:
            return self.note
        return f"{self.actor}: {self.note}" if self.note else self.actor


def make_router(service: TicketService, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["tickets"])

    @router.get("/tickets")
    def list_tickets(
        status: StatusFilter | None = None,
        device: str | None = None,
        zone: str | None = None,
        severity: SeverityFilter | None = None,
        overdue: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:
        found = service.list(status=status, device=device, zone=zone, severity=severity, overdue=overdue,
                             limit=limit)
        return [t.to_json() for t in found]

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
        def act(ticket_id: str, request: Request,
                body: Annotated[ActionBody | None, Body()] = None) -> dict[str, Any]:
            body = body or ActionBody()
            try:
                ticket = service.act(ticket_id, action, actor=actor_name(request.scope), note=body.signed_note(),
                                     now=clock.now())
            except TicketNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except (IllegalTransition, TicketConflict) as exc:
                raise HTTPException(409, str(exc)) from None
            return ticket.to_json()

        act.__name__ = f"ticket_{action}"
        router.add_api_route(f"/tickets/{{ticket_id}}/{action}", act, methods=["POST"],
                             summary=f"{action} a ticket", name=f"ticket_{action}")

    for action in ACTIONS:
        add_action(action)
    return router
