"""Comparing views of a room: the server's webhooks against what the SDK delivered, and two recordings.

Why webhooks lead the SDK (livekit#4227): livekit-server posts a webhook when the event happens, but tells the
room's other clients about a participant who publishes nothing (a data-only peer) only at its next
participant-update tick (`subscriberUpdateInterval`, 3 s, a constant in `pkg/rtc/room.go`): joins and leaves of such
peers reach the SDK 0-3 s after the webhook (measured for bench/sample_recording.py: 0.25-2.8 s). An attribute
change or a publication is announced at once. `WebhookEvent.created_at` is whole seconds, so the server-clock lag
(`server_to_sdk`) is good to a second only; `webhook_lead` compares two local receive times and is exact.

Example::

    frame = webhooks_vs_sdk(rec)            # one row per webhook about a participant, with the SDK's event
    lag_summary(frame)                      # per event: count, matched, median/p90/max lead (s)
    diff = diff_recordings(rec_a, rec_b)    # .who, .state, .messages
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .entries import WebhookRecord
from .recording import Recording, Time, to_seconds

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SDK_COUNTERPART", "RecordingDiff", "diff_recordings", "lag_summary", "webhooks_vs_sdk"]

SDK_COUNTERPART = {
    "participant_joined": "joined",
    "participant_left": "left",
    "participant_connection_aborted": "left",
}
"""Webhook event -> the RoomState change kind (`history_frame()["kind"]`) an SDK client sees for the same thing."""

MATCH_WINDOW_S = 10.0
"""An SDK change further than this from a webhook (either way) is not its counterpart."""


def _server_event_at(event: str, body: str, created_at: float | None) -> float | None:
    """The server's time of the event: a participant's `joinedAtMs` for joins (milliseconds), else `created_at`."""
    try:
        participant = json.loads(body).get("participant", {})
    except ValueError:
        return created_at
    joined_ms = participant.get("joinedAtMs")
    return int(joined_ms) / 1000 if joined_ms and event == "participant_joined" else created_at


def webhooks_vs_sdk(rec: Recording) -> pd.DataFrame:
    """Each webhook about a participant beside the SDK's change for the same participant (the nearest one of the
    counterpart kind within MATCH_WINDOW_S, each used once).

    Columns: event, identity, server_at (the webhook's created_at), server_event_at (a join's joinedAtMs, else
    created_at), webhook_at (local receive), sdk_kind, sdk_at (local), webhook_lead (sdk_at - webhook_at, s:
    positive when the webhook came first), server_to_sdk (sdk_at - server_event_at, s, across two clocks).
    """
    import pandas as pd

    history = rec.history_frame()
    sdk: dict[tuple[str, str], list[float]] = {}
    for identity, kind, at in zip(history["identity"], history["kind"], history["at"], strict=True):
        sdk.setdefault((identity, kind), []).append(at.timestamp())
    used: set[tuple[str, str, int]] = set()
    rows = []
    for entry in rec.events(["webhook"]):
        hook = entry.value
        kind = SDK_COUNTERPART.get(hook.event) if isinstance(hook, WebhookRecord) else None
        if kind is None or not isinstance(hook, WebhookRecord):
            continue
        identity = hook.participant
        candidates = [
            (abs(t - entry.at), i, t)
            for i, t in enumerate(sdk.get((identity, kind), []))
            if (identity, kind, i) not in used and abs(t - entry.at) <= MATCH_WINDOW_S
        ]
        sdk_at: float | None = None
        if candidates:
            _, i, sdk_at = min(candidates)
            used.add((identity, kind, i))
        server_event_at = _server_event_at(hook.event, hook.body, entry.server_at)
        rows.append(
            [hook.event, identity, entry.server_at, server_event_at, entry.at, kind, sdk_at,
             None if sdk_at is None else sdk_at - entry.at,
             None if sdk_at is None or server_event_at is None else sdk_at - server_event_at]
        )  # fmt: skip
    columns = ["event", "identity", "server_at", "server_event_at", "webhook_at", "sdk_kind", "sdk_at",
               "webhook_lead", "server_to_sdk"]  # fmt: skip
    frame: pd.DataFrame = pd.DataFrame(rows, columns=columns)
    for column in ("server_at", "server_event_at", "webhook_at", "sdk_at"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    for column in ("webhook_lead", "server_to_sdk"):
        frame[column] = frame[column].astype(float)
    return frame


def lag_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per webhook event: webhooks, matched SDK changes, and the median, p90 and max `webhook_lead` (seconds)."""
    import pandas as pd

    grouped = frame.groupby("event")["webhook_lead"]
    summary: pd.DataFrame = pd.DataFrame(
        grouped.agg(
            webhooks="size",
            matched="count",
            median_lead_s="median",
            p90_lead_s=lambda s: s.quantile(0.9),
            max_lead_s="max",
        )
    )
    return summary


@dataclass(frozen=True)
class RecordingDiff:
    """Two recordings compared: `who` (identity, in_a, in_b), `state` (identity, field, a, b for each differing
    name, metadata, attribute or the room metadata) and `messages` (packets only in one: side, sender, topic, kind,
    size, sha256, count)."""

    who: pd.DataFrame
    state: pd.DataFrame
    messages: pd.DataFrame

    @property
    def same(self) -> bool:
        return self.who.empty and self.state.empty and self.messages.empty


def diff_recordings(a: Recording, b: Recording, *, at_a: Time | None = None, at_b: Time | None = None) -> RecordingDiff:
    """Who was there, with what state (at `at_a` / `at_b`, default each recording's end), and which packets one
    recording has up to then that the other lacks (by sender, topic, kind, size and sha256, counting repeats)."""
    import pandas as pd

    end_a = a.end.timestamp() if at_a is None else to_seconds(at_a)
    end_b = b.end.timestamp() if at_b is None else to_seconds(at_b)
    sa, sb = a.state_at(end_a), b.state_at(end_b)
    # The recorders themselves (hidden, local) differ by construction: compare the room, not the observers.
    pa = {i: p for i, p in sa.participants.items() if not p.is_local}
    pb = {i: p for i, p in sb.participants.items() if not p.is_local}
    who = pd.DataFrame(
        [[i, i in pa, i in pb] for i in sorted(pa.keys() ^ pb.keys())], columns=["identity", "in_a", "in_b"]
    )
    state_rows: list[list[object]] = []
    if sa.room_metadata != sb.room_metadata:
        state_rows.append(["", "room_metadata", sa.room_metadata, sb.room_metadata])
    for identity in sorted(pa.keys() & pb.keys()):
        x, y = pa[identity], pb[identity]
        for field in ("name", "metadata"):
            if getattr(x, field) != getattr(y, field):
                state_rows.append([identity, field, getattr(x, field), getattr(y, field)])
        for key in sorted(x.attributes.keys() | y.attributes.keys()):
            if x.attributes.get(key) != y.attributes.get(key):
                state_rows.append([identity, f"attr:{key}", x.attributes.get(key), y.attributes.get(key)])
    state = pd.DataFrame(state_rows, columns=["identity", "field", "a", "b"])
    keys = ["sender", "topic", "kind", "size", "sha256"]
    frame_a, frame_b = a.messages_frame(), b.messages_frame()
    # dropna=False: a packet that came without a sender (sender None) is a message like any other
    counts_a = frame_a[frame_a["at"] <= pd.Timestamp(end_a, unit="s", tz="UTC")].groupby(keys, dropna=False).size()
    counts_b = frame_b[frame_b["at"] <= pd.Timestamp(end_b, unit="s", tz="UTC")].groupby(keys, dropna=False).size()
    both = pd.concat([counts_a.rename("a"), counts_b.rename("b")], axis=1).fillna(0).astype(int)
    differ = both[both["a"] != both["b"]].reset_index()
    rows = [[*(r[k] for k in keys), "a" if r["a"] > r["b"] else "b", abs(r["a"] - r["b"])]
            for _, r in differ.iterrows()]  # fmt: skip
    messages = pd.DataFrame(rows, columns=[*keys, "only_in", "count"])
    return RecordingDiff(who, state, messages)
