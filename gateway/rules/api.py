"""HTTP route for the rules that watch one device: `GET /api/devices/{device_id}/rules`.

What the device page shows under "Thresholds": each rule that applies to the device's kind, zone and
metrics, with its condition, `during`, `for`, `clear` and severity as loaded now (params and the
site's overrides substituted; a live reload shows at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException

from gateway.ingest.gateway import Gateway
from gateway.rules.describe import applies, describe
from gateway.rules.schema import Rule


def rules_router(rules: Callable[[], Sequence[Rule]], gw: Gateway) -> APIRouter:
    router = APIRouter(tags=["rules"])

    @router.get("/api/devices/{device_id}/rules", summary="The rules that watch one device, with their thresholds",
                responses={404: {"description": "Unknown device"}})
    def device_rules(device_id: str) -> dict[str, Any]:
        view = gw.registry.view(device_id, gw.clock.now())
        if view is None:
            raise HTTPException(404, f"No device '{device_id}' is known; see /api/devices for the list.")
        kind, zone = str(view["kind"]), str(view["zone"])
        heartbeat = gw.registry.heartbeat(kind)
        found = [r for r in rules() if applies(r, device=device_id, kind=kind, zone=zone, metrics=view["metrics"])]
        # The rules about what this device is or measures first, those every device has (offline, silent) after.
        found.sort(key=lambda r: not (r.match.kind or r.match.metric or r.match.device))
        watching = [describe(r, heartbeat) for r in found]
        return {"device": device_id, "kind": kind, "zone": zone, "rules": watching}

    return router
