"""Secrets, configs and service updates: the endpoints a dashboard's secret rotation needs.

Messages and status codes are a real daemon's (swarmkit's gRPC errors as dockerd passes them on);
tests/integration/test_simulator_shapes.py checks them against a real 20.10 swarm.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bench.simulator.docs import blob_doc
from bench.simulator.events import labels_match
from bench.simulator.model import JSON, ApiError, Blob, dumps
from bench.simulator.routes import filters, json_bytes, json_response, version_of

if TYPE_CHECKING:
    from bench.simulator.server import Simulator

ACCEPTED_FILTERS = {"secret": {"id", "label", "name", "names"}, "config": {"id", "label", "name"}}


async def blobs_list(sim: Simulator, request: web.Request, kind: str) -> web.Response:
    wanted = filters(sim, request, ACCEPTED_FILTERS[kind])
    found = [b for b in sim.blobs(kind) if _blob_matches(b, wanted)]
    return json_bytes(b"[" + b",".join(dumps(blob_doc(b)) for b in found) + b"]\n")


async def blob_inspect(sim: Simulator, request: web.Request, kind: str) -> web.Response:
    return json_response(blob_doc(sim.find_blob(kind, request.match_info["id"])))


async def blob_create(sim: Simulator, request: web.Request, kind: str) -> web.Response:
    body = await read_json(sim, request)
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise sim.profile.malformed_body("json: cannot unmarshal into Go struct field Annotations.Labels")
    blob = sim.create_blob(kind, str(body.get("Name") or ""), _data(sim, body.get("Data")), labels)
    return json_response({"ID": blob.id}, status=201)


async def blob_remove(sim: Simulator, request: web.Request, kind: str) -> web.Response:
    sim.remove_blob(kind, request.match_info["id"])
    return web.Response(status=204)


async def service_update(sim: Simulator, request: web.Request) -> web.Response:
    spec = await read_json(sim, request)
    raw = request.query.get("version", "")
    if not raw.isdigit():
        raise ApiError(400, f"invalid service version '{raw}': strconv.ParseUint: parsing \"{raw}\": invalid syntax")
    sim.replace_spec(request.match_info["id"], int(raw), _adjust(spec, version_of(request)))
    return json_response({"Warnings": None})


async def read_json(sim: Simulator, request: web.Request) -> JSON:
    """A JSON object body; 20.10 refuses an empty one, 29 takes it as {} (httputils.ReadJSON)."""
    raw = await request.read()
    if not raw.strip():
        if sim.profile.legacy:
            raise ApiError(400, "got EOF while reading request body")
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        near = raw[e.pos : e.pos + 1].decode(errors="replace")
        detail = f"invalid character '{near}' looking for beginning of value" if near else "unexpected EOF"
        raise sim.profile.malformed_body(detail) from None
    if not isinstance(body, dict):
        raise sim.profile.malformed_body("json: cannot unmarshal array into Go value of type swarm.Spec")
    return body


def _data(sim: Simulator, raw: Any) -> bytes:
    """Go decodes a []byte field from standard base64."""
    if raw is None:
        return b""
    text = str(raw)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        bad = next((i for i, c in enumerate(text) if c not in _BASE64), len(text))
        raise sim.profile.malformed_body(f"illegal base64 data at input byte {bad}") from None


_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _adjust(spec: JSON, version: tuple[int, ...]) -> JSON:
    """What Engine 29 drops from a spec a client of an older API version sends (adjustForAPIVersion in
    daemon/server/router/swarm/helpers.go); 20.10 knows none of these fields."""
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    if version < (1, 52):
        for key in ("SwapBytes", "MemorySwappiness"):
            (template.get("Resources") or {}).pop(key, None)
    if version < (1, 46):
        container.pop("OomScoreAdj", None)
        for mount in container.get("Mounts") or []:
            (mount.get("TmpfsOptions") or {}).pop("Options", None)
    if version < (1, 44):
        for key in ("Seccomp", "AppArmor", "NoNewPrivileges"):
            (container.get("Privileges") or {}).pop(key, None)
        (container.get("Healthcheck") or {}).pop("StartInterval", None)
    return spec


def _blob_matches(blob: Blob, wanted: dict[str, list[str]]) -> bool:
    return (
        any(blob.id.startswith(v) for v in wanted.get("id", [""]))
        and any(blob.name.startswith(v) for v in wanted.get("name", [""]))
        and ("names" not in wanted or blob.name in wanted["names"])
        and labels_match(blob.labels, wanted.get("label", []))
    )
