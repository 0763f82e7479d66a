"""Measure an agent from the client's side: N scripted turns through the lab's relay, clean and impaired.

The agent (a LiveKit Agents worker registered on the rig's server under `agent_name`) is dispatched into the rig's
room and linked to the rig's sender (the dispatch metadata carries `participant_identity`, which agents built on
LiveKit's room IO honour). Each turn is `view.send(text)` from the sender, timed on this process's clock from the
send until the agent's state and reply arrive: that is what a user waits for, network included. The agent's own
view of the same turn (its clock, no network) is kept beside it as `agent_to_final`.

Example::

    rig = await Rig(server=LocalServer(relay=True)).start()
    result = await measure_agent(rig, agent_name="my-agent", turns=5,
                                 impairments=[Impairment(), Impairment(loss=0.05), Impairment(delay_ms=50)])
    result.frame()       # one row per turn
    result.summary()     # median and p90 per impairment
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from livekit import api

from ..agents.messages import ChatMessage
from ..agents.view import AgentView
from ..errors import LabError
from .relay import Impairment
from .rig import HasRig, Rig, rig_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AgentTurnRow", "AgentTurns", "measure_agent"]

DEFAULT_TEXTS = ("hello",)


class AgentTurnRow(TypedDict):
    impairment: str
    loss: float
    delay_ms: float
    turn: int
    text: str
    sends: int
    """lk.chat sends until the agent showed it heard (1 unless it dropped the text)."""
    to_heard: float
    """Seconds from the send until its conversation_item_added (user) arrived."""
    to_thinking: float | None
    to_first_chunk: float | None
    to_speaking: float | None
    to_final: float | None
    """Seconds from the send until the reply's conversation_item_added arrived: the whole turn as seen here."""
    agent_to_final: float | None
    """The same turn on the agent's clock (user item to reply item): the part the network does not bend."""


@dataclass(frozen=True)
class AgentTurns:
    """What `measure_agent` measured: typed rows, one per turn."""

    agent: str
    rows: tuple[AgentTurnRow, ...]

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(list(self.rows), columns=list(AgentTurnRow.__annotations__))
        return frame

    def summary(self) -> pd.DataFrame:
        """Median and 90th percentile of each latency per impairment (seconds)."""
        columns = ["to_heard", "to_thinking", "to_first_chunk", "to_speaking", "to_final", "agent_to_final"]
        import pandas as pd

        grouped = self.frame().groupby("impairment", sort=False)[columns]
        return pd.concat({"median": grouped.median(), "p90": grouped.quantile(0.9)}, axis=1)


TURN_STATES = frozenset({"thinking", "speaking", "listening"})
"""The agent states a whole turn passes through after the user's text is sent."""


def _label(impairment: Impairment) -> str:
    parts = [f"loss {impairment.loss:.0%}"] if impairment.loss else []
    parts += [f"delay {impairment.delay_ms:g} ms"] if impairment.delay_ms else []
    return ", ".join(parts) or "clean"


def _first_after(times: Sequence[float], start: float) -> float | None:
    later = [t - start for t in times if t >= start]
    return min(later) if later else None


def _turn_row(view: AgentView, impairment: Impairment, turn: int, text: str, sent: float) -> AgentTurnRow:
    m = view.model
    users = [e for e in m.conversation if isinstance(e.item, ChatMessage) and e.item.role == "user"]
    replies = [e for e in m.conversation if isinstance(e.item, ChatMessage) and e.item.role == "assistant"]
    heard = _first_after([e.received_at for e in users], sent)
    final = _first_after([e.received_at for e in replies], sent)
    user_at = max((e.at for e in users if e.received_at >= sent), default=None)
    reply_at = max((e.at for e in replies if e.received_at >= sent), default=None)
    return AgentTurnRow(
        impairment=_label(impairment),
        loss=impairment.loss,
        delay_ms=impairment.delay_ms,
        turn=turn,
        text=text,
        sends=view.last_send.sends if view.last_send is not None else 0,
        to_heard=heard if heard is not None else float("nan"),
        to_thinking=_first_after([s.received_at for s in m.agent_states if s.new == "thinking"], sent),
        to_first_chunk=_first_after(
            [
                s.first_chunk_received_at
                for s in m.segments.values()
                if s.first_chunk_received_at is not None and s.role == "assistant"  # not the user's transcription
            ],
            sent,
        ),
        to_speaking=_first_after([s.received_at for s in m.agent_states if s.new == "speaking"], sent),
        to_final=final,
        agent_to_final=reply_at - user_at if reply_at is not None and user_at is not None else None,
    )


async def measure_agent(
    holder: Rig | HasRig,
    *,
    agent_name: str,
    turns: int = 5,
    texts: Sequence[str] = DEFAULT_TEXTS,
    impairments: Sequence[Impairment] = (Impairment(),),
    turn_timeout: float = 30.0,
) -> AgentTurns:
    """Dispatch `agent_name` into the rig's room, then run `turns` turns (cycling through `texts`) under each
    impairment, each inside the rig's measurement window (the path through the relay proven before and after).
    Raises LabError when the agent does not come, or a turn does not finish within `turn_timeout` seconds."""
    if turns < 1:
        raise LabError(f"turns must be >= 1, got {turns}")
    if not texts:
        raise LabError("texts must hold at least one user text")
    rig = rig_of(holder)
    await rig.start()
    user = rig.sender
    assert user is not None  # a started rig has its sender
    creds = rig.api_credentials
    async with api.LiveKitAPI(creds.url, creds.api_key, creds.api_secret) as lkapi:
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=agent_name,
                room=rig.room_name,
                metadata=json.dumps({"participant_identity": user.identity}),
            )
        )
        try:
            view = await user.agents.wait_for(timeout=turn_timeout)
        except TimeoutError as exc:
            raise LabError(f"agent {agent_name!r} was not dispatched into {rig.room_name!r}: is its worker "
                           f"registered on {creds.url}?") from exc  # fmt: skip
        if not await view.wait_until(lambda v: v.state == "listening", timeout=turn_timeout):
            raise LabError(f"{view.identity!r} did not start listening within {turn_timeout:g} s")
        rows: list[AgentTurnRow] = []
        try:
            for impairment in impairments:
                async with rig.window(impairment) as window:
                    for turn in range(turns):
                        text = texts[turn % len(texts)]
                        rows.append(await _one_turn(view, impairment, turn, text, turn_timeout))
                    await window.end_sending(turns)
        finally:
            await lkapi.room.remove_participant(api.RoomParticipantIdentity(room=rig.room_name, identity=view.identity))
    return AgentTurns(view.identity, tuple(rows))


async def _one_turn(view: AgentView, impairment: Impairment, turn: int, text: str, timeout: float) -> AgentTurnRow:
    replies = sum(1 for e in view.model.conversation if isinstance(e.item, ChatMessage) and e.item.role == "assistant")
    # An agent seen transcribing its replies before will transcribe this one: wait for that too.
    transcribes = any(s.role == "assistant" for s in view.model.segments.values())
    sent = time.time()
    await view.send(text, timeout=timeout)

    def done(v: AgentView) -> bool:
        m = v.model
        said = sum(1 for e in m.conversation if isinstance(e.item, ChatMessage) and e.item.role == "assistant")
        # The turn's own state changes and transcription too, not only its reply: each session message and each
        # transcription is its own stream, so the reply can come before them, while the state still reads
        # "listening" from the turn before (seen in CI, and a first chunk missing under 5 % loss).
        states = {c.new for c in (m.agent_states or m.attribute_states) if c.received_at >= sent}
        chunk = not transcribes or any(
            s.role == "assistant" and s.first_chunk_received_at is not None and s.first_chunk_received_at >= sent
            for s in m.segments.values()
        )
        return said > replies and v.state == "listening" and states >= TURN_STATES and chunk

    if not await view.wait_until(done, timeout=timeout):
        raise LabError(f"turn {turn} ({text!r}) under {_label(impairment)} did not finish within {timeout:g} s")
    return _turn_row(view, impairment, turn, text, sent)
