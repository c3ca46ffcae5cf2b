"""Services: GET /services (with their running/desired counts), and the one write the dashboard
makes to a service, pointing its tasks at another secret."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from dashboard.core.docker.transport import Transport
from dashboard.core.domain import JSON, Service, as_dict, parse_service


class Services(Transport):
    async def services(self, *, ids: tuple[str, ...] = ()) -> tuple[Service, ...]:
        """GET /services?status=true, filtered by ``id`` when ids are given."""
        params: dict[str, Any] = {"status": "true"}
        if ids:
            params["filters"] = json.dumps({"id": list(ids)})
        return await self._list("services", params, parse_service)

    async def swap_service_secret(
        self, service_id: str, old_id: str, new_id: str, new_name: str, *, rollback_on_failure: bool = False
    ) -> int:
        """Point a service's uses of one secret at another, same target path: a rolling update.

        The service's own update policy stays as it is, unless ``rollback_on_failure`` asks to set
        its UpdateConfig.FailureAction to rollback (a lasting change of the service, which the
        caller must say and audit). Returns how many references were swapped (0: nothing to do).
        """
        raw = await self._get(f"services/{quote(service_id, safe='')}")
        spec = as_dict(raw.get("Spec"))
        container = as_dict(as_dict(spec.get("TaskTemplate")).get("ContainerSpec"))
        swapped = 0
        for ref in container.get("Secrets") or []:
            if isinstance(ref, dict) and ref.get("SecretID") == old_id:
                ref["SecretID"], ref["SecretName"] = new_id, new_name
                swapped += 1
        if swapped:
            if rollback_on_failure:
                update = spec.setdefault("UpdateConfig", {})
                update["FailureAction"] = "rollback"
                update.setdefault("Monitor", 5_000_000_000)
            version = as_dict(raw.get("Version")).get("Index")
            await self._write(
                "POST", f"services/{quote(service_id, safe='')}/update", params={"version": str(version)},
                body=json.dumps(spec),
            )  # fmt: skip
        return swapped

    async def service_inspect(self, service_id: str) -> JSON:
        """GET /services/{id}: the service's spec as Docker holds it, in clear; the caller masks it
        (dashboard.core.service_detail) before anything of it is shown."""
        return await self._get(f"services/{quote(service_id, safe='')}")
