"""The grid: every node a column, every task a box; its first paint rendered here."""

from __future__ import annotations

from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
from django.contrib.auth import alogout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from dashboard import access, runtime
from dashboard.core.model import counts
from dashboard.live import views
from dashboard.live.protocol import page_version
from dashboard.live.wire import labels_json
from dashboard.models import KioskToken
from dashboard.pages import query
from dashboard.pages import render as grid_render
from dashboard.pages.nav import MAX_QUERY_CHARS

MAX_GROUP_CHARS = 200  # a node label's key to group the nodes by (?group=); longer is no key anyone has


def without_kiosk(request: HttpRequest) -> str:
    """This page's URL without its kiosk token, the rest of its query kept (a wall's stack=, density=)."""
    query = request.GET.copy()
    query.pop(access.KIOSK_PARAM, None)
    return request.path + (f"?{query.urlencode()}" if query else "")


async def _keep_session(request: HttpRequest, token: KioskToken) -> None:
    """A kiosk screen's session lasts KIOSK_SESSION_DAYS from its last page load, never past the
    token's expiry (the socket's recheck closes it at the expiry anyway)."""
    seconds = settings.KIOSK_SESSION_DAYS * 86400
    if token.expires_at is not None:
        seconds = min(seconds, int((token.expires_at - timezone.now()).total_seconds()))
    await request.session.aset_expiry(max(1, seconds))


async def exchange_kiosk_url(request: HttpRequest) -> HttpResponse | None:
    """A kiosk URL: its token goes into the session (a cookie from now on), and the page redirects
    to the same URL without it, so that no later request, access log line or Referer carries it.
    A signed-in user keeps their session and looks as themself: the token is not used, so that
    no link can turn a user's browser into a kiosk screen. None when this URL names no token."""
    clear = request.GET.get(access.KIOSK_PARAM)
    if clear is None:
        return None
    clean = without_kiosk(request)
    user = await request.auser()
    if user.is_authenticated and user.is_active:
        return HttpResponseRedirect(clean)
    token = await sync_to_async(access.use_token)(clear, remote_addr=access.remote_addr(request), where=request.path)
    if token is None:
        return redirect_to_login(clean)  # a dead token does not travel on to the login page
    if await request.session.aget(USER_SESSION_KEY) is not None:
        await alogout(request)  # a sign-in that has ended (deactivated, new password): a session is one or the other
    await request.session.acycle_key()  # no session planted beforehand gets the token; its other data stays
    await request.session.aset(access.SESSION_KEY, token.pk)
    await _keep_session(request, token)
    return HttpResponseRedirect(clean)


async def read_only_viewer(request: HttpRequest) -> access.Viewer | None:
    """For the grid and the wall: a signed-in user, a kiosk session, or anonymous when allowed."""
    user = await request.auser()
    kiosk_id = await sync_to_async(access.kiosk_id_of)(request.session)
    viewer = await sync_to_async(access.viewer_for)(
        user, None, remote_addr=access.remote_addr(request), where=request.path, kiosk_id=kiosk_id
    )
    if viewer is not None and viewer.kiosk is not None:
        await _keep_session(request, viewer.kiosk)
    elif viewer is None and kiosk_id is not None:
        await request.session.apop(access.SESSION_KEY)  # revoked or expired: forget it, and its lifetime
        await request.session.aset_expiry(None)
    return viewer


def read_only_view(viewer: access.Viewer) -> views.View | None:
    return views.view_for(
        viewer.read_only, {}, labels=settings.KIOSK_SHOW_LABELS, addresses=settings.KIOSK_SHOW_ADDRESSES
    )


@login_not_required
async def grid(request: HttpRequest) -> HttpResponse:
    exchanged = await exchange_kiosk_url(request)
    if exchanged is not None:
        return exchanged
    viewer = await read_only_viewer(request)
    if viewer is None:
        return redirect_to_login(request.get_full_path())
    watcher = await runtime.swarm().first_sync(timeout=5)
    view = read_only_view(viewer)
    snapshot = views.page_snapshot(watcher.snapshot, view)
    history = request.GET.get("history") == "1"
    failed_window = timedelta(minutes=settings.SWARM_FAILED_TASKS_MINUTES)
    service_counts = counts(snapshot).values()
    labels = view is None or view.labels
    q = request.GET.get("q", "")[:MAX_QUERY_CHARS]
    group = request.GET.get("group", "").strip()[:MAX_GROUP_CHARS]
    match = query.for_snapshot(snapshot, q, labels=labels)
    matching = (
        grid_render.match_counts(snapshot, match, failed_window=failed_window, history=history) if match else None
    )
    grid_html = grid_render.grid(
        snapshot,
        failed_window=failed_window,
        history=history,
        match=match,
        group=group,
        labels=lambda n: labels_json(n.labels) if labels else {},
    )
    context = {
        "viewer": viewer,
        "user": viewer.user,  # the template must not load it lazily in this async view
        "cluster_name": settings.CLUSTER_NAME,
        "seq": snapshot.seq,
        "status": snapshot.status,
        "history": history,
        "hide": request.GET.get("hide") == "1",
        "group": group,
        "match_text": f"{matching[0]:,} of {matching[1]:,} tasks match" if matching else "",
        "page_version": page_version(),
        # every value in these two is escaped by dashboard.pages.render
        "grid_html": mark_safe(grid_html),  # noqa: S308
        "legend_html": mark_safe(grid_render.legend(snapshot)),  # noqa: S308
        "node_count": len(snapshot.nodes),
        "service_count": len(snapshot.services),
        "running": sum(r for r, _ in service_counts),
        "desired": sum(d or 0 for _, d in service_counts),
        # the model itself comes once, over the websocket; the page shows the HTML meanwhile
        "initial": {
            "seq": snapshot.seq,
            "status": views.status_for(snapshot.status, view),
            "failedWindowMinutes": settings.SWARM_FAILED_TASKS_MINUTES,
            # the page tells a dead line from an idle swarm, and judges Docker's last answer, by this
            "heartbeatSeconds": settings.SWARM_HEARTBEAT_SECONDS,
        },
    }
    return render(request, "dashboard/grid.html", context)
