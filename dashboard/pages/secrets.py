"""Docker secrets and configs: list with their users, create, remove, and guided rotation.

Viewers read the lists, operators write, and only operators read a config's data (audited). A
secret's value goes from the request to Docker and nowhere else: never into the database, a log
line, a message, an error or a page (the forms never show it again). Every write is in the audit
log, without the value. Labels are listed as the grid shows them, secret-looking values masked for
every role: there is no reveal here (an operator reads a config's labels in clear on its page,
audited with its data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from dashboard import access, runtime
from dashboard.core.docker import DockerAPIError, DockerProblem
from dashboard.core.domain import Secret, Service
from dashboard.core.model import Snapshot, counts
from dashboard.live.wire import labels_json
from dashboard.models import AuditEntry

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")
LABEL_KEY = re.compile(r"^[^\s=]{1,255}$")
VERSIONED = re.compile(r"^(?P<base>.+)\.v(?P<n>\d{1,6})$")
OWN_LABELS = "swarm-visualizer."
ROTATED_FROM = OWN_LABELS + "rotated-from"


def next_version_name(name: str, taken: set[str]) -> str:
    """``db`` -> ``db.v2``, ``db.v2`` -> ``db.v3`` (skipping names already taken)."""
    match = VERSIONED.match(name)
    base, n = (match["base"], int(match["n"])) if match else (name, 1)
    candidate = f"{base}.v{n + 1}"
    while candidate in taken:
        n += 1
        candidate = f"{base}.v{n + 1}"
    return candidate


def users_of(snapshot: Snapshot, secret_id: str, kind: str = "secrets") -> list[Service]:
    return sorted(
        (s for s in snapshot.services.values() if any(r.id == secret_id for r in getattr(s, kind))),
        key=lambda s: s.name,
    )


def parse_labels(text: str) -> tuple[dict[str, str], str]:
    labels: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.strip().partition("=")
        if not LABEL_KEY.match(key):
            return {}, f"label {key[:40]!r}: expected key=value, one per line, the key without spaces"
        if key.startswith(OWN_LABELS):
            return {}, f"label {key[:40]!r}: keys starting with {OWN_LABELS} are the dashboard's own"
        labels[key] = value
    return labels, ""


@sensitive_variables("data", "typed")
def read_value(request: HttpRequest) -> tuple[bytes | None, str]:
    """The secret's value from the form: a file, or typed text. Never echoed, never kept."""
    upload = request.FILES.get("file")
    typed = request.POST.get("value", "")
    if upload is not None and typed:
        return None, "give the value either typed or as a file, not both"
    data = upload.read() if upload is not None else typed.encode()
    if not data:
        # a file over the limit is dropped unread by the upload handler: only the request's size tells
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.SECRET_MAX_BYTES:
            return None, f"the file is not smaller than {settings.SECRET_MAX_BYTES // 1024} KiB (Docker's limit)"
        return None, "the value is empty"
    # Docker takes values strictly smaller than its 500 KiB ("less than 512000 bytes")
    if len(data) >= settings.SECRET_MAX_BYTES:
        return None, f"the value is not smaller than {settings.SECRET_MAX_BYTES // 1024} KiB (Docker's limit)"
    return data, ""


async def _user_can_write(request: HttpRequest) -> tuple[Any, bool]:
    user = await request.auser()
    return user, await sync_to_async(user.has_perm)("dashboard.write_secrets")


async def _until_model(predicate: Any, services: Iterable[str] = ()) -> None:
    """After a write, show the page once the live model has it (bounded): no stale first view."""
    watcher = runtime.swarm().watcher
    watcher.poke(secrets=True, services=services)
    try:
        await watcher.wait_for(predicate, 3)
    except TimeoutError:
        pass  # the page's live updates will bring it


def _forbidden() -> HttpResponse:
    return HttpResponse("changing secrets needs the operator role", status=403, content_type="text/plain")


async def _audit(request: HttpRequest, user: Any, action: str, target: str, **detail: Any) -> None:
    await sync_to_async(access.audit)(
        user.get_username(), action, target, remote_addr=access.remote_addr(request), **detail
    )


async def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    user, can_write = await _user_can_write(request)
    snapshot = (await runtime.swarm().first_sync(timeout=5)).snapshot
    service_counts = counts(snapshot)

    def rows(items: Any, kind: str) -> list[dict[str, Any]]:
        out = []
        for item in sorted(items, key=lambda x: x.name):
            users = [
                {"service": s, "running": service_counts[s.id][0], "desired": service_counts[s.id][1]}
                for s in users_of(snapshot, item.id, kind)
            ]
            # labels as the grid shows them: secret-looking values masked for everyone, operators too
            out.append({"item": item, "users": users, "labels": list(labels_json(item.labels).items())})
        return out

    return {
        "user": user,
        "can_write": can_write,
        "secrets": rows(snapshot.secrets.values(), "secrets"),
        "configs": rows(snapshot.configs.values(), "configs"),
        "max_kib": settings.SECRET_MAX_BYTES // 1024,
        "seq": snapshot.seq,
        **extra,
    }


@require_GET
async def secrets_page(request: HttpRequest) -> HttpResponse:
    fragment = request.GET.get("fragment") == "tables"
    template = "dashboard/secret_tables.html" if fragment else "dashboard/secrets.html"
    return render(request, template, await _context(request))


@require_http_methods(["POST"])
@sensitive_post_parameters("value")
async def secret_create(request: HttpRequest) -> HttpResponse:
    user, can_write = await _user_can_write(request)
    if not can_write:
        return _forbidden()
    name = request.POST.get("name", "").strip()
    labels, problem = parse_labels(request.POST.get("labels", ""))
    if not problem and not NAME.match(name):
        problem = "the name: letters, digits, '.', '_' or '-', up to 64, starting with a letter or digit"
    data, value_problem = read_value(request)
    problem = problem or value_problem
    if not problem and data is not None:
        try:
            secret_id = await runtime.swarm().client.create_secret(name, labels, data)
        except DockerProblem as e:
            problem = f"Docker refused: {e}"
        else:
            await _audit(request, user, "secret.create", name, id=secret_id, labels=labels)
            await _until_model(lambda snap: secret_id in snap.secrets)
            messages.success(request, f"secret {name} created")
            return HttpResponseRedirect(reverse("secrets"))
    # the form comes back with the name and labels, never with the value
    context = await _context(request, form_error=problem, form_name=name, form_labels=request.POST.get("labels", ""))
    return render(request, "dashboard/secrets.html", context, status=400)


async def _secret_to_change(request: HttpRequest, secret_id: str) -> tuple[Any, Snapshot, Secret] | HttpResponse:
    """The operator, the model and the secret a remove or rotate is about; or the refusal."""
    user, can_write = await _user_can_write(request)
    if not can_write:
        return _forbidden()
    snapshot = (await runtime.swarm().first_sync(timeout=5)).snapshot
    secret = snapshot.secrets.get(secret_id)
    if secret is None:
        return HttpResponse("no such secret", status=404, content_type="text/plain")
    return user, snapshot, secret


@require_http_methods(["GET", "POST"])
async def secret_remove(request: HttpRequest, secret_id: str) -> HttpResponse:
    found = await _secret_to_change(request, secret_id)
    if isinstance(found, HttpResponse):
        return found
    user, snapshot, secret = found
    users = users_of(snapshot, secret_id)
    refusal = ""
    if users:
        refusal = f"{secret.name} is still used by: {', '.join(s.name for s in users)}. Rotate or update those first."
    if request.method == "POST" and not refusal:
        try:
            await runtime.swarm().client.remove_secret(secret_id)
        except DockerAPIError as e:
            refusal = f"Docker refused: {e}"
        except DockerProblem as e:
            refusal = f"Docker is not reachable: {e}"
        else:
            await _audit(request, user, "secret.remove", secret.name, id=secret_id)
            await _until_model(lambda snap: secret_id not in snap.secrets)
            messages.success(request, f"secret {secret.name} removed")
            return HttpResponseRedirect(reverse("secrets"))
    status = 409 if refusal and request.method == "POST" else 200
    return render(
        request, "dashboard/secret_remove.html", {"secret": secret, "refusal": refusal, "user": user}, status=status
    )


def successor_of(snapshot: Snapshot, secret: Secret) -> Secret | None:
    """The newest version an earlier rotation of ``secret`` made, if any: a rotation that failed
    part-way is finished by moving the rest to it, not by yet another version. Only a secret this
    dashboard created as a rotation of this very secret (by id, in the audit log) counts - a label
    anyone with Docker access can set proves nothing."""
    made = {
        str(entry["detail"].get("id", ""))
        for entry in AuditEntry.objects.filter(action="secret.create", detail__rotated_from=secret.id).values("detail")
    }
    candidates = [s for s in snapshot.secrets.values() if s.id in made]
    return max(candidates, key=lambda s: (s.created_at, s.name), default=None)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("value")
async def secret_rotate(request: HttpRequest, secret_id: str) -> HttpResponse:
    found = await _secret_to_change(request, secret_id)
    if isinstance(found, HttpResponse):
        return found
    user, snapshot, secret = found
    users = users_of(snapshot, secret_id)
    successor = await sync_to_async(successor_of)(snapshot, secret)
    taken = {s.name for s in snapshot.secrets.values()}
    new_name = next_version_name(secret.name, taken)
    problem, outcome = "", ""
    if request.method == "POST":
        chosen = [s for s in users if s.id in request.POST.getlist("service")]
        rollback = request.POST.get("rollback") == "1"
        data, problem = read_value(request)
        reuse_id = request.POST.get("reuse", "")
        reuse = bool(reuse_id)
        if reuse:
            # the version the form offered, still the one this secret's rotation made, and no new value
            if successor is None or reuse_id != successor.id:
                problem = "the earlier version offered is no longer the one to move to: look again and retry"
            elif data is not None:
                problem = "give either a new value or the earlier version, not both"
            else:
                problem = ""
        if not problem and (data is not None or reuse):
            client = runtime.swarm().client
            moved: list[str] = []
            created = False
            try:
                if reuse and successor is not None:
                    new_id, new_name = successor.id, successor.name
                else:
                    labels = {**dict(secret.labels), ROTATED_FROM: secret.name}
                    new_id = await client.create_secret(new_name, labels, data or b"")
                    created = True
                    successor = Secret(id=new_id, name=new_name, labels=tuple(sorted(labels.items())), driver="",
                                       created_at="", updated_at="")  # fmt: skip
                    await _audit(request, user, "secret.create", new_name, id=new_id, labels=labels,
                                 rotated_from=secret_id)  # fmt: skip
                runtime.swarm().watcher.poke(secrets=True)
                for service in chosen:
                    await client.swap_service_secret(
                        service.id, secret_id, new_id, new_name, rollback_on_failure=rollback
                    )
                    moved.append(service.name)
                    policy = "rollback" if rollback else "unchanged"
                    await _audit(request, user, "service.update", service.name, secret_from=secret.name,
                                 secret_to=new_name, failure_action=policy)  # fmt: skip
            except DockerProblem as e:
                problem = f"Docker refused: {e}"
                if created or reuse:
                    failed = next((s.name for s in chosen if s.name not in moved), "")
                    rest = [s.name for s in chosen if s.name not in moved and s.name != failed]
                    outcome = _partial(secret.name, new_name, moved, failed, rest, created=created)
                    await _audit(request, user, "secret.rotate", secret.name, to=new_name, services=moved,
                                 refused=failed, not_tried=rest)  # fmt: skip
            else:
                await _audit(request, user, "secret.rotate", secret.name, to=new_name, to_id=new_id, reused=reuse,
                             services=[s.name for s in chosen])  # fmt: skip
                await _until_model(lambda snap: new_id in snap.secrets, [s.id for s in chosen])
                names = ", ".join(s.name for s in chosen) or "no service"
                policy = (
                    "a failing update rolls back by itself"
                    if rollback
                    else "each service's own update policy applies if new tasks fail"
                )
                messages.success(
                    request,
                    f"{new_name} ready; {names} now rolling over to it ({policy}). "
                    f"Remove {secret.name} once nothing uses it.",
                )
                return HttpResponseRedirect(reverse("secrets"))
    context = {"secret": secret, "users": users, "new_name": new_name, "problem": problem, "user": user,
               "outcome": outcome, "successor": successor,
               "max_kib": settings.SECRET_MAX_BYTES // 1024}  # fmt: skip
    return render(request, "dashboard/secret_rotate.html", context, status=400 if problem else 200)


def _partial(old: str, new: str, moved: list[str], failed: str, rest: list[str], *, created: bool) -> str:
    """What a rotation that stopped part-way did, in words an operator can act on."""
    parts = [f"{new} was created" if created else f"{new} exists"]
    parts.append(f"moved to it: {', '.join(moved)}" if moved else "no service moved yet")
    if failed:
        parts.append(f"refused: {failed}")
    if rest:
        parts.append(f"not tried: {', '.join(rest)}")
    return "; ".join(parts) + f". Retrying moves the rest to {new} without creating another version; {old} stays."


CONFIG_DATA_PERMISSION = "dashboard.reveal_env"  # the operator's: it reveals what viewers see masked


@require_GET
async def config_page(request: HttpRequest, config_id: str) -> HttpResponse:
    """A config's name, dates and users for every viewer; its data (and labels) for operators only,
    each view in the audit log (never the data). A config often holds what a secret should."""
    snapshot = (await runtime.swarm().first_sync(timeout=5)).snapshot
    config = snapshot.configs.get(config_id)
    if config is None:
        return HttpResponse("no such config", status=404, content_type="text/plain")
    user = await request.auser()
    may_read = await sync_to_async(user.has_perm)(CONFIG_DATA_PERMISSION)
    context: dict[str, Any] = {
        "config": config,
        "may_read": may_read,
        "users": users_of(snapshot, config_id, "configs"),
        "user": user,
    }
    if may_read:
        try:
            data = await runtime.swarm().client.config_data(config_id)
        except DockerProblem as e:
            return HttpResponse(f"Docker: {e}", status=502, content_type="text/plain")
        await _audit(request, user, "config.view", config.name, id=config_id)
        try:
            text, binary = data.decode("utf-8"), False
        except UnicodeDecodeError:
            text, binary = data[:4096].hex(" "), True
        context.update(text=text, binary=binary, size=len(data))
    response = render(request, "dashboard/config.html", context)
    response["Cache-Control"] = "no-store"  # an operator's page holds the data: no cache may keep it
    return response
