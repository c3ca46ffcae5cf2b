"""Secrets and configs: their metadata (Docker never returns a secret's value), a config's data,
and creating and removing secrets."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from dashboard.core.docker.transport import Transport
from dashboard.core.domain import Config, Secret, as_dict, parse_config, parse_secret


class Secrets(Transport):
    async def secrets(self) -> tuple[Secret, ...]:
        """GET /secrets (metadata: Docker never returns a secret's value)."""
        return await self._list("secrets", None, parse_secret)

    async def configs(self) -> tuple[Config, ...]:
        """GET /configs, metadata only (the data stays out of the model)."""
        return await self._list("configs", None, parse_config)

    async def config_data(self, config_id: str) -> bytes:
        raw = await self._get(f"configs/{quote(config_id, safe='')}")
        return base64.b64decode(str(as_dict(raw.get("Spec")).get("Data", "")))

    async def create_secret(self, name: str, labels: dict[str, str], data: bytes) -> str:
        """POST /secrets/create; returns the new id. ``data`` goes to Docker and nowhere else."""
        body = json.dumps({"Name": name, "Labels": labels, "Data": base64.b64encode(data).decode()})
        result = await self._write("POST", "secrets/create", body=body)
        return str(as_dict(result).get("ID", ""))

    async def remove_secret(self, secret_id: str) -> None:
        await self._write("DELETE", f"secrets/{quote(secret_id, safe='')}")
