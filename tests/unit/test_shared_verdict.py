"""Sockets of one session share its standing's database check within a round; a signal asks afresh."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async

from dashboard.access.sessions import Ending, Standing
from dashboard.live import guard

pytestmark = pytest.mark.asyncio(loop_scope="function")

ALICE = Standing(user_id=1, session_key="s1", auth_hash="h", role="viewer")
BOB = Standing(user_id=2, session_key="s2", auth_hash="h", role="viewer")


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Standing]]:
    """The database checks made, as the standings they were made for."""
    calls: list[Standing] = []

    def verdict(standing: Standing) -> Ending | None:
        calls.append(standing)
        return None if standing is ALICE else Ending(4401, "your session has ended: sign in again")

    monkeypatch.setattr(guard, "verdict", verdict)
    # the real one closes stale database connections around the call: no database here
    monkeypatch.setattr(guard, "database_sync_to_async", sync_to_async)
    guard._verdicts.clear()
    yield calls
    guard._verdicts.clear()


async def test_it_checks_a_session_once_for_all_its_sockets_in_a_round(asked: list[Standing]) -> None:
    answers = await asyncio.gather(*(guard.shared_verdict(ALICE) for _ in range(200)))
    assert answers == [None] * 200
    assert asked == [ALICE]
    assert await guard.shared_verdict(BOB) == Ending(4401, "your session has ended: sign in again")
    assert asked == [ALICE, BOB]


async def test_it_asks_again_once_the_answer_is_a_third_of_a_round_old(asked: list[Standing]) -> None:
    await guard.shared_verdict(ALICE)
    at, answer = guard._verdicts[ALICE]
    guard._verdicts[ALICE] = (at - guard.SESSION_RECHECK_SECONDS / 3, answer)
    await guard.shared_verdict(ALICE)
    assert asked == [ALICE, ALICE]


async def test_a_signal_asks_afresh(asked: list[Standing]) -> None:
    await guard.shared_verdict(ALICE)
    await guard.shared_verdict(ALICE, fresh=True)
    await guard.shared_verdict(ALICE, fresh=True)
    assert asked == [ALICE, ALICE, ALICE]


async def test_it_forgets_the_oldest_standings_past_its_bound(
    asked: list[Standing], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "VERDICTS_KEPT", 3)
    standings = [Standing(user_id=i, session_key=f"s{i}", auth_hash="h", role="viewer") for i in range(5)]
    for standing in standings:
        await guard.shared_verdict(standing)
    assert list(guard._verdicts) == standings[2:]


async def test_a_failed_check_nobody_waits_for_is_not_logged_as_never_retrieved(
    asked: list[Standing], monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    async def failing(standing: Standing) -> Ending | None:
        started.set()
        await release.wait()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(guard, "database_sync_to_async", lambda _: failing)
    unhandled: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    waiter = asyncio.ensure_future(guard.shared_verdict(ALICE))
    await started.wait()
    waiter.cancel()  # its socket closed: nobody takes the failure
    with pytest.raises(asyncio.CancelledError):
        await waiter
    _, shared = guard._verdicts.pop(ALICE)
    release.set()  # it fails once its waiter has gone
    await asyncio.wait([shared])
    del shared, waiter
    gc.collect()
    assert [c for c in unhandled if "never retrieved" in str(c.get("message"))] == []
