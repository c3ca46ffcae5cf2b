"""Task log downloads in progress, counted per user and per process.

daphne sends a response body as fast as the application makes it, with no regard for how fast the
client reads: a client that reads nothing makes the server hold the whole download in memory. So a
download is cut at LOG_DOWNLOAD_MAX_BYTES, and at most LOG_DOWNLOADS_PER_USER of them (per user) and
LOG_DOWNLOADS_PER_PROCESS (in all) run at once; one more is refused with a 429 and a reason.
"""

from __future__ import annotations

import weakref
from collections import Counter

from django.conf import settings

# user -> downloads of that user in progress in this process (one event loop: no lock needed)
in_progress: Counter[str] = Counter()


class Slot:
    """One download's place in the counts, given back once, whichever way the download ends."""

    def __init__(self, user: str) -> None:
        self.user = user
        self._held = True
        in_progress[user] += 1

    def release(self) -> None:
        if self._held:
            self._held = False
            in_progress[self.user] -= 1
            if in_progress[self.user] <= 0:
                del in_progress[self.user]

    def tie_to(self, response: object) -> None:
        """Released when the response is dropped as well: a response whose body never started (the
        client gone before) never runs the body's own clean-up."""
        weakref.finalize(response, self.release)


def take(user: str) -> Slot | str:
    """A slot for one more download of ``user``'s, or why not."""
    if in_progress[user] >= settings.LOG_DOWNLOADS_PER_USER:
        return (
            f"you have {in_progress[user]} log downloads in progress (LOG_DOWNLOADS_PER_USER): "
            "wait for one to finish, then try again"
        )
    if sum(in_progress.values()) >= settings.LOG_DOWNLOADS_PER_PROCESS:
        return (
            "too many log downloads are in progress on this server (LOG_DOWNLOADS_PER_PROCESS): try again in a moment"
        )
    return Slot(user)
