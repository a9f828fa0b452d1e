"""`/api/maintenance`: the overview of planned work (due, overdue) and expired equipment, and the
checklist results a guard or engineer records, one item at a time.

Writes default to the engineer role (gateway/web/guard.py). Guards record inspection items too:
once the `guard` role exists, list `POST /api/maintenance/{ticket_id}/items/{index}` for it there.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.caller import actor_name
from gateway.core.clock import Clock
from gateway.maintenance.checklist import NoSuchItem, NotInspectable
from gateway.maintenance.service import MaintenanceService
from gateway.tickets.lifecycle import IllegalTransition
from gateway.tickets.service import TicketConflict, TicketNotFound


class ItemResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["ok", "fault"]
    note: str = Field(default="", max_length=4000)


def make_router(service: MaintenanceService, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/api/maintenance", tags=["maintenance"])

    @router.get("")
    def overview() -> dict[str, Any]:
        return service.overview(clock.now())

    @router.post("/{ticket_id}/items/{index}")
    def record_item(ticket_id: str, index: int, body: ItemResult, request: Request) -> dict[str, Any]:
        try:
            ticket = service.record(ticket_id, index, body.result, note=body.note,
                                    actor=actor_name(request.scope), now=clock.now())
        except (TicketNotFound, NoSuchItem) as exc:
            raise HTTPException(404, str(exc)) from None
        except (NotInspectable, IllegalTransition, TicketConflict) as exc:
            raise HTTPException(409, str(exc)) from None
        return ticket.to_json()

    return router
