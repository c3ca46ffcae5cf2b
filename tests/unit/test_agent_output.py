"""A health check's output is cut only at a line boundary, by the agent and again by the dashboard,
so that masking (which reads a line's key to find its value) never sees a value without its key."""

from __future__ import annotations

import pytest

from dashboard.agent.containers import fit_inventory
from dashboard.agent.messages import MAX_OUTPUT_CHARS, TaskContainer
from dashboard.agent.output import CUT, tail, whole_lines
from dashboard.core.agents_store import AgentKnowledge
from dashboard.core.details import health_output
from tests.unit.test_agent_hub import CONTAINER, EVENT, HELLO, _msg

SECRET = "S3CRETVALUE"
# the secret's key in the first line, which any cut of the last MAX_OUTPUT_CHARS cuts in two
KEY_CUT = f"check failed: mysql --password={SECRET}\n" + "z" * (MAX_OUTPUT_CHARS - 15)
# the cut falls on the key itself: what is left of the line is the value alone
VALUE_LEFT = "x" * 30 + f" --password {SECRET}\nok\n" + "y" * (MAX_OUTPUT_CHARS - 20)


@pytest.mark.parametrize("output", [KEY_CUT, VALUE_LEFT])
def test_the_agent_cuts_an_output_at_a_line_boundary_and_says_so(output: str) -> None:
    cut = tail(output)
    assert len(cut) <= MAX_OUTPUT_CHARS and cut.startswith(CUT) and output.endswith(cut[len(CUT) :])
    assert SECRET not in health_output(cut)
    assert tail("short\n") == "short\n" and tail("one long line" * 500) == CUT


def test_the_inventorys_shorter_cuts_keep_whole_lines_too() -> None:
    entry = TaskContainer(
        task_id="t1", service_id="s1", container_id="c" * 64, running=True, health="unhealthy",
        output=f"--password={SECRET}\n" + "z" * 1900, oom_killed=False, exit_code=None,
    )  # fmt: skip
    fitted = fit_inventory([entry] * 200, limit=60_000)  # 200 x 2 KB: cut to 125 characters
    assert all(SECRET not in health_output(t["output"]) for t in fitted) and fitted[0]["output"] == CUT


@pytest.mark.parametrize("output", [KEY_CUT, VALUE_LEFT])
def test_the_dashboard_drops_the_partial_first_line_of_an_output_an_older_agent_cut(output: str) -> None:
    older_agents_cut = output[-MAX_OUTPUT_CHARS:]  # cut anywhere: the key gone, the value kept
    assert SECRET in health_output(older_agents_cut)  # what masking alone would have shown
    store = AgentKnowledge(ttl=15)
    store.said("n1", "a", _msg(HELLO), 0)
    store.said("n1", "a", _msg(EVENT | {"output": older_agents_cut}), 1)
    assert SECRET not in health_output(store.agents["n1"].tasks["t1"].output)
    store.said("n1", "a", _msg({"type": "inventory", "tasks": [CONTAINER | {"output": older_agents_cut}]}), 2)
    kept = store.agents["n1"].tasks["t1"].output
    assert kept.startswith(CUT) and SECRET not in health_output(kept)
    # an output under the bound, or one an agent already cut at a line, is kept as it is
    assert whole_lines("ok\n") == "ok\n" and whole_lines(tail(output)) == tail(output)
