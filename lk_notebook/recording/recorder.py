"""The recorder: a hidden inspector that journals everything the toolkit knows about one room, until stopped.

What it records: the room's state events (joins, leaves, attributes, metadata, names, room metadata, connection
changes and rejoin gaps, each resync's snapshot), every data packet, text and byte stream and RPC it can see,
data-track statistics, the server's `list_participants` every `poll_interval` seconds, and the server's webhooks
when `webhook_port` is given (the server must be configured to post there: `webhook_config(webhook_url(port), key)`).

Example::

    rec = await lk_notebook.record("demo", "demo.lkrec")
    ...
    await rec.aclose()                      # or rec.stop()
    lk_notebook.Recording("demo.lkrec").webhooks_frame()
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from .._tasks import TaskOwner
from ..agents.messages import SESSION_TOPIC
from ..config import resolve_credentials
from ..errors import JournalError, LkNotebookError
from ..events import Snapshot, StreamRecord, StreamState
from ..inspector import inspect
from ..session import Session
from .journal import Journal
from .webhooks import WebhookServer

__all__ = ["Recorder", "record", "webhook_url"]

log = logging.getLogger(__name__)


def webhook_url(port: int, host: str = "127.0.0.1") -> str:
    """The URL a recorder's webhook receiver listens on: put it in the server's config before the server starts
    (`LocalServer(config=webhook_config(webhook_url(port), api_key))`); a running server takes no new URL."""
    return f"http://{host}:{port}/webhook"


class Recorder:
    """A running recording of one room (made by `record`). `aclose()` (or `stop()`) leaves the room, stops the
    receiver and closes the file. `error` is set when the journal stopped by itself (a full disk); the session's
    own disconnections and rejoins are recorded as connection changes (and gaps) in the file."""

    def __init__(
        self, session: Session, journal: Journal, *, webhooks: WebhookServer | None, poll_interval: float,
        data_tracks: bool,
    ) -> None:  # fmt: skip
        self.session = session
        self.journal = journal
        self.webhooks = webhooks
        self.room = session.room_name
        self.path: Path = journal.path
        self.poll_interval = poll_interval
        self.data_tracks = data_tracks
        self.server_snapshots = 0
        """`list_participants` answers recorded."""
        self.poll_errors = 0
        """Server API calls that failed (logged; the recording goes on)."""
        self.closed = False
        self._stream_states: dict[str, StreamState] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self.tasks = TaskOwner(f"recorder {self.room}")

    def __repr__(self) -> str:
        state = "closed" if self.closed else "failed" if self.error else "recording"
        return f"Recorder({str(self.path)!r}, room={self.room!r}, {state}, records={self.journal.appended})"

    @property
    def error(self) -> LkNotebookError | None:
        """Why the recording stopped by itself (the journal's write failure), None while all is well."""
        return self.journal.error

    @property
    def counts(self) -> dict[str, int]:
        """Records appended, committed and dropped; webhooks received and refused; server snapshots taken."""
        return {
            "appended": self.journal.appended,
            "written": self.journal.written,
            "dropped": self.journal.dropped,
            "webhooks": self.webhooks.received if self.webhooks else 0,
            "webhooks_refused": self.webhooks.refused if self.webhooks else 0,
            "server_snapshots": self.server_snapshots,
            "poll_errors": self.poll_errors,
        }

    # -- wiring ------------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        s, journal = self.session, self.journal
        # The state as it is now first, then every change: replay starts from a complete picture.
        journal.append_event(
            Snapshot(self.room, s.state.room_metadata, tuple(s.state.participants.values()), time.time())
        )
        self._unsubscribe += [
            s.state.subscribe(journal.append_event),
            s.on_message(journal.append_packet),
            s.on_stream(self._on_stream),
            s.on_rpc(journal.append_rpc),
            # Agent session messages whole, as bytes: `Recording.agents()` decodes them again on replay.
            s.agents.on_session_message(
                lambda identity, data, at: journal.append_agent_message(identity, SESSION_TOPIC, data, at=at)
            ),
        ]
        self.tasks.spawn(self._poll(), name="poll")

    def _on_stream(self, record: StreamRecord) -> None:
        # A stream reports every chunk; its start, its end and a change of state are what a recording needs.
        if self._stream_states.get(record.stream_id) is not record.state:
            self._stream_states[record.stream_id] = record.state
            self.journal.append_stream(record)
        if record.state is not StreamState.STARTED:
            self._stream_states.pop(record.stream_id, None)  # ended: a long recording keeps no entry per stream

    async def _poll(self) -> None:
        while not self.closed and self.journal.error is None:
            try:
                participants = await self.session.admin.list_participants(self.room)
            except LkNotebookError as exc:
                self.poll_errors += 1
                log.warning("recorder %s: list_participants failed: %s", self.room, exc)
            else:
                if not self.closed:
                    self.journal.append_server_participants(self.room, participants)
                    self.server_snapshots += 1
            if self.data_tracks and not self.closed:
                self._record_data_tracks()
            await asyncio.sleep(self.poll_interval)

    def _record_data_tracks(self) -> None:
        tracks = self.session.data_tracks
        if not tracks.can_subscribe:
            return
        for t in tracks.published:
            sub = tracks.subscription(t.publisher, t.name)
            if sub is None or sub.ended:
                try:
                    tracks.subscribe(t.publisher, t.name)
                except LkNotebookError as exc:  # unpublished in between: the next poll sees the new list
                    log.info("recorder %s: cannot subscribe to %s/%s: %s", self.room, t.publisher, t.name, exc)
                continue
            stats = dataclasses.asdict(sub.stats.snapshot())
            self.journal.append_datatrack_stats(t.publisher, t.name, stats)

    # -- stopping ----------------------------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop recording: unsubscribe, leave the room, stop the webhook receiver, commit and close the file."""
        if self.closed:
            return
        self.closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self.tasks.aclose()
        try:
            await self.session.leave()
        finally:
            if self.webhooks is not None:
                await self.webhooks.stop()
            await self.journal.aclose()

    async def stop(self) -> None:
        """The same as `aclose()`."""
        await self.aclose()

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def record(
    room: str,
    path: str | Path,
    *,
    url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    webhook_port: int | None = None,
    webhook_host: str = "127.0.0.1",
    poll_interval: float = 2.0,
    data_tracks: bool = True,
    payload_limit: int = 16_384,
    text_limit: int = 16_384,
    keep_stream_bytes: bool = False,
    max_bytes: int | None = None,
    on_error: Callable[[JournalError], None] | None = None,
    timeout: float = 20.0,
) -> Recorder:
    """Record `room` into a new file at `path` with a hidden inspector (no participant sees it), until `aclose()`.

    `webhook_port`: also run a webhook receiver there (verified with the API key and secret) and record the
    server's webhooks about this room; the server must post to `webhook_url(webhook_port)`. `poll_interval`: how
    often the server's `list_participants` is recorded. `data_tracks`: subscribe to every data track and record
    its statistics. Payloads and texts are kept up to `payload_limit` / `text_limit`; stream bytes only with
    `keep_stream_bytes`. `max_bytes` caps the file (reaching it stops the recording as a full disk does);
    `on_error(error)` runs on this loop if the journal stops.
    """
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    journal = Journal(
        path, room=room, payload_limit=payload_limit, text_limit=text_limit, keep_stream_bytes=keep_stream_bytes,
        max_bytes=max_bytes, on_error=on_error,
    )  # fmt: skip
    receiver: WebhookServer | None = None
    try:
        # After the journal: a path that cannot be recorded to fails before anything starts or joins.
        creds = resolve_credentials(url, api_key, api_secret)
        if webhook_port is not None:
            receiver = WebhookServer(
                creds.api_key, creds.api_secret, on_event=journal.append_webhook, host=webhook_host,
                port=webhook_port, room=room,
            )  # fmt: skip
            await receiver.start()
        session = await inspect(
            room, url=creds.url, api_key=creds.api_key, api_secret=creds.api_secret, timeout=timeout
        )
    except BaseException:
        if receiver is not None:
            await receiver.stop()
        await journal.aclose()
        raise
    recorder = Recorder(session, journal, webhooks=receiver, poll_interval=poll_interval, data_tracks=data_tracks)
    recorder._start()
    return recorder
