"""The views in use in this process, per watcher: every patch becomes each view's text once.

A ``Hub`` keeps the model a patch applies to and the state of each view in use (dashboard.live.views),
turns every patch into each view's text, and sends it to that view's group, which its sockets join
instead of the swarm's.

Each view in use costs a pass over the tasks when it comes, and its share of every patch: read-only
screens (which need no sign-in when anonymous viewing is on) may hold at most
KIOSK_FILTERS_PER_PROCESS distinct wall filters at once in a process; one more is refused
(``TooManyViews``). What a view's sockets are sent on connect or resync is kept per view for the
model's seq, so that sockets of one view at one seq cost one projection between them.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from typing import Any

from django.conf import settings

from dashboard.core.model import Patch, Snapshot
from dashboard.core.registry import Model, Swarm
from dashboard.live import fanout, views
from dashboard.live.views import Parts, View, filtered_patch, group_of, unfiltered_patch

log = logging.getLogger(__name__)


class TooManyViews(Exception):
    """A read-only screen asks for one more distinct wall filter than KIOSK_FILTERS_PER_PROCESS."""


def limited(view: View) -> bool:
    """Counted against KIOSK_FILTERS_PER_PROCESS: a read-only screen's wall filter (a signed-in
    user's are not: they come from accounts, not from whoever can reach the page)."""
    return view.read_only and view.filtered


class Hub:
    """One watcher's views in use in this process: every patch becomes each view's text once,
    sent to the view's group. Subscribed to the watcher; views come and go with their sockets."""

    def __init__(self, watcher: Model, group: str) -> None:
        self.model = watcher  # its epoch: which model the patches belong to
        self.group = group
        self.last = watcher.snapshot  # the model the next patch applies to
        self.users: Counter[View] = Counter()
        self.held: dict[View, Counter[str]] = {}
        # what each view's sockets were sent, for one model (a seq names one model within an epoch)
        self._parts: dict[View, tuple[Snapshot, Parts]] = {}

    def acquire(self, view: View) -> str:
        """A socket of this view joins: its group, to join before it reads the model. TooManyViews
        for a read-only screen's filter beyond KIOSK_FILTERS_PER_PROCESS distinct ones."""
        if self.users[view] == 0:
            if limited(view):
                most = int(settings.KIOSK_FILTERS_PER_PROCESS)
                if sum(1 for v in self.users if limited(v)) >= most:
                    raise TooManyViews(
                        f"too many different wall filters on read-only screens (at most {most}): "
                        "try again later, or sign in"
                    )
            if view.filtered:
                self.held[view] = views.node_counts(self.last, view)
        self.users[view] += 1
        return group_of(self.group, view)

    def release(self, view: View) -> None:
        self.users[view] -= 1
        if self.users[view] <= 0:
            del self.users[view]
            self.held.pop(view, None)
            self._parts.pop(view, None)

    def parts(self, snapshot: Snapshot, whole: dict[str, Any], view: View) -> Parts:
        """``snapshot_parts`` for a socket of a view in use, made once per view and seq: a seq
        names one model of this watcher (an unchanged model keeps its seq)."""
        hit = self._parts.get(view)
        if hit is not None and hit[0] is snapshot:
            return hit[1]
        held = self.held.get(view) if snapshot is self.last else None
        parts = views.snapshot_parts(snapshot, whole, view, held)
        if view in self.users:
            self._parts[view] = (snapshot, parts)
        return parts

    def texts(self, snapshot: Snapshot, patch: Patch) -> list[tuple[str, str]]:
        """Each view's (group, text) for this patch; none when it does not follow the last one
        (patches published out of order): the pages then see a seq gap and ask for the model."""
        old, self.last = self.last, snapshot
        self._parts.clear()  # of older models
        if patch.base_seq != old.seq or patch.seq != snapshot.seq:
            if patch.seq > old.seq:
                log.warning("views: patch %d does not follow %d; their pages resync", patch.seq, old.seq)
            self.held = {view: views.node_counts(snapshot, view) for view in self.users if view.filtered}
            return []
        out = []
        for view in self.users:
            if view.filtered:
                text = filtered_patch(old, snapshot, patch, view, self.held[view], self.model.epoch)
            else:
                text = unfiltered_patch(patch, view, self.model.epoch)
            out.append((group_of(self.group, view), text))
        return out

    def reset(self, snapshot: Snapshot) -> list[str]:
        """A model loaded whole replaces the last one (a new epoch): the groups of the views in use."""
        self.last = snapshot
        self._parts.clear()
        self.held = {view: views.node_counts(snapshot, view) for view in self.users if view.filtered}
        return [group_of(self.group, view) for view in self.users]

    async def __call__(self, snapshot: Snapshot, patch: Patch) -> None:
        # handed over without an await: a patch published next finds the views as this one leaves them
        for group, text in self.texts(snapshot, patch):
            fanout.publish(group, text)


_hubs: weakref.WeakKeyDictionary[Model, Hub] = weakref.WeakKeyDictionary()


def hub(swarm: Swarm) -> Hub:
    found = _hubs.get(swarm.watcher)
    if found is None:
        found = _hubs[swarm.watcher] = Hub(swarm.watcher, swarm.group)
        swarm.watcher.subscribe(found)
    return found


def hub_reset(swarm: Swarm, snapshot: Snapshot) -> list[str]:
    """After a model loaded whole: the view groups whose sockets must be sent it again."""
    found = _hubs.get(swarm.watcher)
    return found.reset(snapshot) if found is not None else []
