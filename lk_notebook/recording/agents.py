"""A recording's agent sessions, decoded again: the recorded `lk.agent.session` messages, the agents' attributes and
their `lk.transcription` streams fed to a fresh `AgentsModel` in journal order, at their receive times.

Example::

    model = agents_of(Recording("room.lkrec"))    # or rec.agents()
    model["agent-1"].turns_frame()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..agents.messages import SESSION_TOPIC, TRANSCRIBED_TRACK_ATTRIBUTE, TRANSCRIPTION_TOPIC
from ..agents.model import AgentsModel
from ..events import AttributesChanged, ParticipantJoined, Snapshot, StreamRecord, StreamState
from .entries import AgentMessage

if TYPE_CHECKING:
    from .recording import Recording

__all__ = ["agents_of"]


def agents_of(recording: Recording) -> AgentsModel:
    """Per agent: states, conversation, tool calls, usage and turns, as the live `session.agents` decoded them."""
    model = AgentsModel()
    for entry in recording.events(["agent_message", "stream", "snapshot", "joined", "attributes"]):
        value = entry.value
        if isinstance(value, AgentMessage) and value.topic == SESSION_TOPIC:
            # A message cut at the journal's payload bound fails to decode and is counted as malformed.
            model.feed_session_bytes(value.sender, value.payload, received_at=entry.at)
        elif isinstance(value, Snapshot):
            for p in value.participants:
                model.feed_attributes(p.identity, p.attributes, at=entry.at)
        elif isinstance(value, ParticipantJoined):
            model.feed_attributes(value.participant.identity, value.participant.attributes, at=entry.at)
        elif isinstance(value, AttributesChanged):
            model.feed_attributes(value.identity, value.attributes, at=entry.at)
        elif (
            isinstance(value, StreamRecord)
            and value.topic == TRANSCRIPTION_TOPIC
            and value.state is StreamState.FINISHED
        ):
            # Recorded whole at its end: one chunk. Its opening time is the stream's start. As the live tracker
            # does: an agent's own stream is its reply; one sent with a user's identity and the transcribed
            # track is that agent's transcription of its user (one agent: which one is unambiguous).
            sid, who = value.stream_id, value.sender
            role: Literal["assistant", "user"] = "assistant"
            if who not in model:
                if not value.attributes.get(TRANSCRIBED_TRACK_ATTRIBUTE) or len(model) != 1:
                    continue
                who, role = next(iter(model)), "user"
            model.feed_transcription_opened(
                who, sid, value.attributes, opened_at=value.started_at, received_at=value.started_at, role=role
            )
            model.feed_transcription_chunk(who, sid, value.text or "", received_at=value.updated_at)
            model.feed_transcription_closed(who, sid, value.attributes, received_at=value.updated_at)
    return model
