"""`lk_notebook.lab.measure_agent` against the real test agent, whose worker registers on the lab's relay server:
turns timed from the client's side, clean and with loss and delay through the relay. Prints the summary (-s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lk_notebook.config import Credentials
from lk_notebook.lab import Impairment, Lab, measure_agent
from lk_notebook.server import LocalServer

from .agent.script import GREETING_INPUT, WEATHER_QUESTION
from .agentenv import AgentProcess, logged_agent

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab_agent(relay_server: LocalServer) -> Iterator[AgentProcess]:
    creds = Credentials(relay_server.url, relay_server.api_key, relay_server.api_secret, source="relay server")
    with logged_agent(creds, "lk-notebook-lab", tail=20) as process:
        yield process


async def test_measure_agent_clean_and_impaired(lab: Lab, lab_agent: AgentProcess) -> None:
    delay = Impairment(delay_ms=100)
    result = await measure_agent(
        lab,
        agent_name=lab_agent.agent_name,
        turns=3,
        texts=[GREETING_INPUT, WEATHER_QUESTION],
        impairments=[Impairment(), Impairment(loss=0.05), delay],
    )
    frame = result.frame()
    print(frame.to_string())
    print(result.summary().to_string())
    assert list(frame["impairment"].unique()) == ["clean", "loss 5%", "delay 100 ms"]
    assert len(frame) == 9 and (frame["sends"] >= 1).all()
    ordered = frame[["to_heard", "to_thinking", "to_speaking", "to_final"]]
    assert ordered.notna().all().all() and (ordered.diff(axis=1).iloc[:, 1:] >= -0.05).all().all()
    assert (frame["to_first_chunk"].notna()).all() and (frame["agent_to_final"] > 0).all()
    # 100 ms each way on both the user's and the agent's legs: the user's text reaches the agent >= 200 ms later
    # and its item comes back >= 200 ms later again.
    clean = frame[frame["impairment"] == "clean"]
    delayed = frame[frame["impairment"] == "delay 100 ms"]
    assert delayed["to_heard"].median() >= clean["to_heard"].median() + 0.15
