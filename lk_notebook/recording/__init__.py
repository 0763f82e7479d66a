"""A flight recorder for a room's data plane: the journal writes one crash-safe file, `Recording` reads it back
with no server, `state_at(t)` answers "who was there, with what state, at t", and a webhook receiver adds the
server's own view.

Example::

    with Journal("room.lkrec", room="demo") as journal:
        state.subscribe(journal.append_event)
        ...
    rec = Recording("room.lkrec")
    rec.state_at(rec.end).to_frame()
"""

from __future__ import annotations

from .compare import RecordingDiff, diff_recordings, lag_summary, webhooks_vs_sdk
from .entries import AgentMessage, DataTrackStats, Entry, RecordedPacket, ServerParticipants, WebhookRecord
from .journal import Journal
from .recorder import Recorder, record, webhook_url
from .recording import Recording, replay
from .schema import FORMAT, SCHEMA_VERSION
from .source import ReplaySource
from .webhooks import WebhookServer, webhook_config

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "AgentMessage",
    "DataTrackStats",
    "Entry",
    "Journal",
    "RecordedPacket",
    "Recorder",
    "Recording",
    "RecordingDiff",
    "ReplaySource",
    "ServerParticipants",
    "WebhookRecord",
    "WebhookServer",
    "diff_recordings",
    "lag_summary",
    "record",
    "replay",
    "webhook_config",
    "webhook_url",
    "webhooks_vs_sdk",
]
