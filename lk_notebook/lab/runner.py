"""The delivery lab: a sender and a receiver in one room, probes between them, numbers out.

Example::

    async with Lab() as lab:                                  # local server + impairment relay, two participants
        result = await lab.run(mode="lossy", size=200, rate=500, duration=2, impairment=Impairment(loss=0.1))
        result.row["loss_rate"], result.row["expected_loss"]

With no arguments the lab starts its own `LocalServer(relay=True)` and relay, unless `LIVEKIT_URL` is set: then it
runs against that server and refuses any impairment (it cannot put a relay in front of a remote server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from livekit import rtc
from livekit.rtc.participant import PublishDataError

from .. import limits
from .._tasks import TaskOwner
from ..errors import LabError
from ..events import DataKind
from ..server import LocalServer
from ..session import Session, join
from .probe import CLOCK_ID, HEADER_SIZE, Mode, ProbeClock, ProbeCodec, new_run_id, unpack_fast
from .relay import NO_IMPAIRMENT, Impairment, ImpairmentRelay
from .stats import ReceiverStats
from .theory import datagrams_per_message, expected_loss

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TOPIC", "Lab", "LiveSample", "PathError", "RunResult", "check_path", "validate_run"]

log = logging.getLogger("lk_notebook.lab")

TOPIC = "lk_notebook.lab"
"""Data topic the lab's probes travel on (anything else on it is ignored by the receiver)."""
DATA_TRACK_MAX_BYTES = 60_000
"""Largest data-track frame the lab sends (frames are packetised by the SDK; kept below the data packet limit)."""
DEFAULT_WINDOW = 4
"""Publish calls in flight at once when sending as fast as possible. Every pending call subscribes to all FFI
events, so each costs O(n) per event (and the receiver's events count too when both run in one process): measured
on 2 cores, 4 in flight beat 1 by ~20 % and 16 lose to 4."""
MAX_IN_FLIGHT_BYTES = 128 * 1024
"""Reliable probe bytes sent but not yet received, at most (and at most 512 probes, at least 4).

publish_data returns once SCTP has the message, so without an end-to-end bound a sender faster than the path
(under loss SCTP's congestion window shrinks to a few packets) piles up seconds of backlog that outlives the run
and congests the next one. The receiver is in this process, so the lab knows what is in flight; lossy probes are
not bounded this way (a lost one never arrives)."""
SEQUENTIAL_RATE = 400.0
"""Paced runs up to this rate await one publish at a time: concurrent publish_data calls are handed to SCTP in
no guaranteed order by the SDK (measured: a few reordered reliable messages per thousand under load)."""


class PathError(LabError):
    """Traffic does not cross the impairment relay, so impaired results would be false."""


@dataclass(frozen=True, slots=True)
class LiveSample:
    """Progress of a running measurement, for live plots (taken a few times a second)."""

    mode: str
    """Mode of the run."""
    t: float
    """Seconds since the run started."""
    sent: int
    """Probes handed to the SDK so far."""
    received: int
    """Distinct probes received so far."""
    msgs_s: float
    """Goodput over the last sample interval, messages/s."""
    bytes_s: float
    """Goodput over the last sample interval, bytes/s."""


@dataclass(slots=True)
class RunResult:
    """One measurement: a tidy row, the goodput time series, and the latency histogram behind the percentiles."""

    row: dict[str, Any]
    """Mode, size, rate, impairment settings, counts, loss, throughput, latency percentiles, theory."""
    series: list[tuple[float, int, int]]
    """(seconds since start, messages, bytes) per time bin of `bin_width` seconds."""
    bin_width: float
    stats: ReceiverStats = field(repr=False)
    """The receiver's statistics (histogram, sequence window) for CDF plots."""

    def series_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(self.series, columns=["t", "msgs", "bytes"])
        frame["msgs_s"] = frame["msgs"] / self.bin_width
        frame["bytes_s"] = frame["bytes"] / self.bin_width
        for key in ("run_id", "mode", "size", "rate", "impairment"):
            frame[key] = self.row[key]
        return frame


def _require_data_track_sdk() -> None:
    if not hasattr(rtc.LocalParticipant, "publish_data_track") or not hasattr(rtc, "DataTrackFrame"):
        raise LabError(
            "this livekit SDK has no data tracks (LocalParticipant.publish_data_track); upgrade livekit (>= 1.2), "
            "or leave data_track out of the modes."
        )


def max_size(mode: Mode, *, identity: str) -> int:
    """The largest probe payload `mode` can carry for this sender (the SDK's 64000-byte encoded limit)."""
    if mode is Mode.DATA_TRACK:
        return DATA_TRACK_MAX_BYTES
    overhead = limits.packet_size(b"", topic=TOPIC, identity=identity)
    # varint length prefixes grow with the payload; 8 bytes covers them
    return limits.SDK_MAX_PACKET_BYTES - overhead - 8


def validate_run(
    *,
    mode: Mode | str,
    size: int,
    rate: float | None,
    duration: float | None,
    count: int | None,
    impairment: Impairment | None,
    relay_available: bool,
    identity: str = "lab-sender-00000000",
) -> Mode:
    """Check one run's parameters; raise LabError (before anything is sent) with what to change."""
    try:
        m = Mode(mode)
    except ValueError:
        raise LabError(f"unknown mode {mode!r}: use one of {', '.join(x.value for x in Mode)}") from None
    if m is Mode.DATA_TRACK:
        _require_data_track_sdk()
    if not isinstance(size, int) or isinstance(size, bool):
        raise LabError(f"size must be an int number of bytes, got {size!r}")
    if size < HEADER_SIZE:
        raise LabError(f"size {size} is below the probe header ({HEADER_SIZE} bytes); use at least {HEADER_SIZE}")
    top = max_size(m, identity=identity)
    if size > top:
        raise LabError(
            f"size {size} is over the {m.value} limit of {top} bytes for a probe (the SDK refuses encoded data "
            f"packets over {limits.SDK_MAX_PACKET_BYTES} bytes); pick a smaller size."
        )
    if rate is not None and (not isinstance(rate, int | float) or not rate > 0 or math.isinf(rate)):
        raise LabError(f"rate must be a positive number of messages/s (or None for as fast as possible), got {rate!r}")
    if duration is None and count is None:
        raise LabError("give a duration (seconds) or a count (messages)")
    if duration is not None and (not isinstance(duration, int | float) or not duration > 0):
        raise LabError(f"duration must be a positive number of seconds, got {duration!r}")
    if count is not None and (not isinstance(count, int) or count <= 0):
        raise LabError(f"count must be a positive int, got {count!r}")
    if impairment is not None and impairment.active and not relay_available:
        raise LabError(
            "impairment needs the lab's relay in front of a local server; this lab runs against a remote server "
            "(LIVEKIT_URL or url=...). Unset LIVEKIT_URL (or pass server=LocalServer(relay=True)) to impair, or "
            "drop the loss/delay settings."
        )
    return m


async def check_path(session: Session, relay: ImpairmentRelay) -> str:
    """Prove from the SDK's RTC stats that every selected ICE pair of `session` ends at the relay.

    Returns a description of the path. Raises PathError when a transport's selected pair bypasses it.
    """
    try:
        stats = await session.room.get_rtc_stats()
    except RuntimeError as exc:
        raise PathError(f"cannot read RTC stats of {session.identity!r} to check the path: {exc}") from exc
    host, port = relay.address
    checked = []
    for group in (stats.publisher_stats, stats.subscriber_stats):
        # Each stat is a oneof; its member holds `rtc` (the id) and a same-named body, e.g. s.transport.transport.
        by_id: dict[str, Any] = {}
        for s in group:
            kind = s.WhichOneof("stats")
            if kind is not None:
                member = getattr(s, kind)
                by_id[member.rtc.id] = (kind, member)
        for kind, member in list(by_id.values()):
            if kind != "transport":
                continue
            pair_id = member.transport.selected_candidate_pair_id
            if not pair_id:
                continue
            pair = by_id.get(pair_id)
            if pair is None or pair[0] != "candidate_pair":
                continue
            remote = by_id.get(pair[1].candidate_pair.remote_candidate_id)
            if remote is None or remote[0] != "remote_candidate":
                continue
            cand = remote[1].candidate
            where = f"{cand.address}:{cand.port}/{cand.protocol}"
            if (cand.address, cand.port, cand.protocol) != (host, port, "udp"):
                raise PathError(
                    f"traffic of {session.identity!r} bypasses the relay: its selected ICE pair ends at {where}, "
                    f"the relay listens on {host}:{port}/udp. Impaired results would be false, so none are reported. "
                    f"Use a server started with LocalServer(relay=True) and the relay on its relay_layout."
                )
            checked.append(where)
    if not checked:
        raise PathError(f"no selected ICE pair in the RTC stats of {session.identity!r}; cannot prove the path")
    return f"relay {host}:{port} ({len(checked)} transports)"


class Lab:
    """A sender and a receiver joined to one room, with an impairment relay when the server is local.

    Example::

        lab = await Lab().start()
        r = await lab.run(mode="reliable", size=1200, rate=200, duration=2)
        await lab.aclose()

    `server`: a LocalServer to use (in relay layout for impairment). `url`/`api_key`/`api_secret`: a remote server
    (no impairment). Neither: LIVEKIT_URL if set, else a fresh LocalServer(relay=True) owned by the lab.
    """

    def __init__(
        self,
        *,
        server: LocalServer | None = None,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        room: str | None = None,
        seed: int | None = None,
        bin_width: float = 0.1,
    ) -> None:
        self._server = server
        self._owns_server = False
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret
        tag = secrets.token_hex(4)
        self.room_name = room or f"lk-lab-{tag}"
        self.sender_identity = f"lab-sender-{tag}"
        self.receiver_identity = f"lab-receiver-{tag}"
        self.seed = seed
        self.bin_width = bin_width
        self.relay: ImpairmentRelay | None = None
        self.sender: Session | None = None
        self.receiver: Session | None = None
        self.path = "not checked"
        self.tasks = TaskOwner("lab")
        self._stats: ReceiverStats | None = None
        self._run_id = 0
        self._clock = ProbeClock.MONOTONIC
        self._foreign = 0
        self._remove_handler: Callable[[], None] | None = None
        self._track: rtc.LocalDataTrack | None = None
        self._track_ready: asyncio.Event | None = None
        self._remote_tracks: dict[str, rtc.RemoteDataTrack] = {}
        self._track_seen = asyncio.Event()
        self._track_error: str | None = None
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------------------------
    @property
    def remote(self) -> bool:
        """True when the lab runs against a server it cannot impair."""
        return self.relay is None

    async def start(self) -> Lab:
        if self._started:
            return self
        server = self._server
        url, key, secret = self._url, self._api_key, self._api_secret
        if server is None and url is None and not os.environ.get("LIVEKIT_URL"):
            server = LocalServer(relay=True)
            await asyncio.to_thread(server.start)
            self._server = server
            self._owns_server = True
        if server is not None:
            if not server.running:
                await asyncio.to_thread(server.start)
            url, key, secret = server.url, server.api_key, server.api_secret
            if server.relay:
                self.relay = ImpairmentRelay(server.relay_layout, seed=self.seed).start()
        try:
            self.sender = await join(
                self.room_name, identity=self.sender_identity, url=url, api_key=key, api_secret=secret
            )
            self.receiver = await join(
                self.room_name, identity=self.receiver_identity, url=url, api_key=key, api_secret=secret
            )
            self._remove_handler = self.receiver.add_raw_handler(TOPIC, self._on_data)
            self.receiver.room.on("data_track_published", self._on_track_published)
            rid = self.receiver_identity
            if not await self.sender.wait_for(lambda s: (p := s.get(rid)) is not None and p.active, timeout=10):
                raise LabError(f"the receiver {rid!r} did not become active in 10 s; lossy data would be dropped")
            if self.relay is not None:
                self.path = await check_path(self.sender, self.relay)
                await check_path(self.receiver, self.relay)
            else:
                self.path = "direct (no relay: unimpaired only)"
        except BaseException:
            await self.aclose()
            raise
        self._started = True
        return self

    async def aclose(self) -> None:
        await self.tasks.aclose()
        if self._remove_handler is not None:
            self._remove_handler()
            self._remove_handler = None
        for s in (self.sender, self.receiver):
            if s is not None:
                with contextlib.suppress(Exception):
                    await s.leave()
        if self.relay is not None:
            self.relay.stop()
        if self._owns_server and self._server is not None:
            await asyncio.to_thread(self._server.stop)
        self._started = False

    async def __aenter__(self) -> Lab:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Lab room={self.room_name!r} path={self.path!r}>"

    # -- receiving ----------------------------------------------------------------------------------------------
    def _on_data(self, payload: bytes, sender: str, kind: DataKind, arrival: float) -> None:
        now = time.monotonic_ns()
        self._record(payload, now)

    def _record(self, payload: bytes, now: int) -> None:
        stats = self._stats
        head = unpack_fast(payload)
        if head is None or stats is None or head[0] != self._run_id:
            self._foreign += 1
            return
        _, clock_id, seq, mono, wall = head
        if clock_id == CLOCK_ID:
            latency = now - mono
        else:
            self._clock = ProbeClock.WALL
            latency = time.time_ns() - wall
        stats.record(len(payload), seq, latency, now)

    def _on_track_published(self, track: rtc.RemoteDataTrack) -> None:
        # May fire before publish_data_track() returns to the sender side: keep it by name for _ensure_track.
        self._remote_tracks[track.info.name] = track
        self._track_seen.set()

    async def _read_track(self, track: rtc.RemoteDataTrack) -> None:
        try:
            # A large buffer, so that frames are lost on the network or in the SFU, not in our reader.
            stream = track.subscribe(buffer_size=4096)
        except Exception as exc:
            self._track_error = f"subscribing to the data track failed: {exc}"
            if self._track_ready is not None:
                self._track_ready.set()
            raise
        if self._track_ready is not None:
            self._track_ready.set()
        try:
            async for frame in stream:
                self._record(bytes(frame.payload), time.monotonic_ns())
        except rtc.SubscribeDataTrackError as exc:
            self._track_error = f"the data track subscription ended: {exc.message}"
        finally:
            stream.close()

    async def prepare_data_track(self) -> rtc.LocalDataTrack:
        """Publish the lab's data track and subscribe the receiver (once). LabError if the server or SDK
        cannot: call it before sending anything when a sweep includes data tracks."""
        if self._track is not None:
            return self._track
        assert self.sender is not None
        lp = self.sender.room.local_participant
        _require_data_track_sdk()
        self._track_ready = asyncio.Event()
        try:
            self._track = await asyncio.wait_for(lp.publish_data_track(name=f"{TOPIC}.{self.room_name}"), 10)
        except (asyncio.TimeoutError, Exception) as exc:
            raise LabError(
                f"the server or SDK refused to publish a data track ({exc!r}). Data tracks need livekit-server "
                f">= 1.13 with enable_data_tracks (on by default) and a livekit SDK with data tracks; leave "
                f"data_track out of the modes otherwise."
            ) from exc
        name = self._track.info.name
        deadline = time.monotonic() + 10
        while name not in self._remote_tracks:
            self._track_seen.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError("the receiver never saw the lab's data track published (10 s); data tracks unusable")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._track_seen.wait(), left)
        self.tasks.spawn(self._read_track(self._remote_tracks[name]), name="data track reader")
        await asyncio.wait_for(self._track_ready.wait(), 10)
        if self._track_error:
            raise LabError(self._track_error)
        return self._track

    # -- one run ------------------------------------------------------------------------------------------------
    def validate(
        self,
        *,
        mode: Mode | str,
        size: int,
        rate: float | None,
        duration: float | None,
        count: int | None,
        impairment: Impairment | None,
    ) -> Mode:
        return validate_run(
            mode=mode,
            size=size,
            rate=rate,
            duration=duration,
            count=count,
            impairment=impairment,
            relay_available=self.relay is not None or (not self._started and self._would_own_relay()),
            identity=self.sender_identity,
        )

    def _would_own_relay(self) -> bool:
        if self._server is not None:
            return self._server.relay
        return self._url is None and not os.environ.get("LIVEKIT_URL")

    async def run(
        self,
        *,
        mode: Mode | str,
        size: int,
        rate: float | None = None,
        duration: float | None = None,
        count: int | None = None,
        impairment: Impairment | None = None,
        window: int = DEFAULT_WINDOW,
        max_in_flight: int | None = None,
        on_sample: Callable[[LiveSample], None] | None = None,
        sample_interval: float = 0.25,
    ) -> RunResult:
        """Send probes of `size` bytes in `mode` at `rate` messages/s (None: as fast as a window of `window`
        publishes in flight allows) for `duration` seconds or `count` messages, under `impairment`.

        Reliable probes in flight end to end (sent, not yet received) are bounded by `max_in_flight` (default:
        128 KiB worth, at most 512): a sender faster than the path then slows down instead of queueing seconds of
        backlog in SCTP; `offered_msgs_s` shows what it managed.

        `on_sample` is called every `sample_interval` seconds with a LiveSample (for live plots)."""
        m = self.validate(mode=mode, size=size, rate=rate, duration=duration, count=count, impairment=impairment)
        if window < 1:
            raise LabError(f"window must be >= 1, got {window}")
        await self.start()
        assert self.sender is not None and self.receiver is not None
        imp = impairment or NO_IMPAIRMENT
        track = await self.prepare_data_track() if m is Mode.DATA_TRACK else None
        await self._warm_up(m, track)

        relay = self.relay
        if relay is not None:
            relay.check()
            self.path = await check_path(self.sender, relay)
            await check_path(self.receiver, relay)
            relay.set_impairment(imp)  # only now: ICE and DTLS under loss are slow, and not what we measure
        relay_before = relay.stats() if relay is not None else None

        run_id = new_run_id()
        codec = ProbeCodec(run_id=run_id, mode=m, size=size)
        t0 = time.monotonic_ns()
        stats = ReceiverStats(t0_ns=t0, bin_width=self.bin_width)
        self._clock = ProbeClock.MONOTONIC
        self._stats = stats
        self._run_id = run_id
        progress = _Progress()
        sampler = None
        if on_sample is not None:
            sampler = self.tasks.spawn(
                _sample(m.value, stats, progress, t0, sample_interval, on_sample), name="live samples"
            )
        try:
            limit = count if count is not None else 2**62
            deadline = time.monotonic() + duration if duration is not None else math.inf
            if m is Mode.DATA_TRACK:
                assert track is not None
                await _send_track(track, codec, rate, deadline, limit, progress)
            else:
                bound = None
                if m is Mode.RELIABLE:
                    bound = max_in_flight or max(4, min(512, MAX_IN_FLIGHT_BYTES // size))
                await _send_data(
                    self.sender, codec, m is Mode.RELIABLE, rate, deadline, limit, window, progress, stats, bound
                )
            send_end = time.monotonic_ns()
            await self._drain(m, imp, stats, progress)
        finally:
            if sampler is not None:
                sampler.cancel()
            if relay is not None:
                relay.clear()
            self._run_id = 0
            self._stats = None
        if relay is not None:
            relay.check()
            # The path must still be the relay at the end: an ICE switch mid-run would void the impairment.
            await check_path(self.sender, relay)
            await check_path(self.receiver, relay)
        relay_after = relay.stats() if relay is not None else None
        if relay_before is not None and relay_after is not None and progress.sent:
            # Second, independent proof: the probes' datagrams crossed the relay during the run.
            crossed = sum(relay_after.received) - sum(relay_before.received)
            if crossed < min(progress.sent, 10):
                raise PathError(
                    f"{progress.sent} probes were sent but only {crossed} datagrams crossed the relay: traffic "
                    f"bypasses it, so these results are not reported."
                )
        return self._result(
            m, size, rate, duration, imp, run_id, stats, progress, t0, send_end, relay_before, relay_after
        )

    async def _warm_up(self, mode: Mode, track: rtc.LocalDataTrack | None) -> None:
        """Send throwaway probes until one arrives: the subscription (data track) or channel is then open."""
        assert self.sender is not None
        run_id = new_run_id()
        codec = ProbeCodec(run_id=run_id, mode=mode, size=HEADER_SIZE)
        stats = ReceiverStats(t0_ns=time.monotonic_ns())
        self._stats, self._run_id = stats, run_id
        try:
            # reliable is ordered: its warm-up waits behind whatever an earlier run left queued
            limit = 30.0 if mode is Mode.RELIABLE else 10.0
            deadline = time.monotonic() + limit
            seq = 0
            while stats.received == 0:
                if time.monotonic() > deadline:
                    raise LabError(
                        f"no {mode.value} probe reached the receiver within {limit:g} s; is the server healthy?"
                    )
                payload = codec.encode(seq)
                seq += 1
                if track is not None:
                    with contextlib.suppress(rtc.PushFrameError):
                        track.try_push(rtc.DataTrackFrame(payload=payload))
                else:
                    await self.sender.room.local_participant.publish_data(
                        payload, reliable=mode is Mode.RELIABLE, topic=TOPIC
                    )
                await asyncio.sleep(0.05)
        finally:
            self._stats, self._run_id = None, 0

    async def _drain(self, mode: Mode, imp: Impairment, stats: ReceiverStats, progress: _Progress) -> None:
        """Wait for the last probes: until all arrived, or nothing new arrives for a while (lossy)."""
        one_way = 2 * (imp.delay_ms + 3 * imp.jitter_ms) / 1000.0
        idle_limit = max(0.5, 3 * one_way + 0.3)
        hard_limit = time.monotonic() + (20.0 if mode is Mode.RELIABLE else 5.0) + 2 * one_way
        last_count, last_change = -1, time.monotonic()
        while stats.seq.unique < progress.sent:
            now = time.monotonic()
            if stats.seq.unique != last_count:
                last_count, last_change = stats.seq.unique, now
            elif mode is not Mode.RELIABLE and now - last_change > idle_limit:
                return
            if now > hard_limit:
                progress.drained = False
                if mode is Mode.RELIABLE:
                    log.warning("reliable run ended with %d of %d probes delivered", stats.seq.unique, progress.sent)
                return
            await asyncio.sleep(0.02)

    def _result(
        self,
        mode: Mode,
        size: int,
        rate: float | None,
        duration: float | None,
        imp: Impairment,
        run_id: int,
        stats: ReceiverStats,
        progress: _Progress,
        t0: int,
        send_end: int,
        before: Any,
        after: Any,
    ) -> RunResult:
        unique = stats.seq.unique
        sent = progress.sent
        span = max(1e-9, ((stats.last_ns or send_end) - t0) / 1e9)
        lat = stats.latency
        up, down = datagrams_per_message(size, mode, topic=TOPIC, identity=self.sender_identity)
        legs = 2 if self.relay is not None else 0
        row: dict[str, Any] = {
            "run_id": f"{run_id:016x}",
            "mode": mode.value,
            "size": size,
            "rate": float(rate) if rate is not None else None,
            "duration_s": round((send_end - t0) / 1e9, 4),
            "impairment": imp.label(),
            "loss_setting": imp.loss,
            "delay_setting": imp.delay_ms,
            "jitter_setting": imp.jitter_ms,
            "bandwidth_kbps_setting": imp.rate_kbps,
            "sent": sent,
            "send_errors": progress.errors,
            "backpressure": progress.backpressure + progress.blocked,
            "received": unique,
            "lost": max(0, sent - unique),
            "drained": progress.drained if mode is Mode.RELIABLE else True,
            "loss_rate": (max(0, sent - unique) / sent) if sent else math.nan,
            "duplicates": stats.seq.duplicates,
            "out_of_order": stats.seq.out_of_order,
            "too_old": stats.seq.too_old,
            "offered_msgs_s": sent / max(1e-9, (send_end - t0) / 1e9),
            "throughput_msgs_s": unique / span,
            "throughput_bytes_s": stats.bytes / span,
            "latency_p50_ms": lat.percentile(50),
            "latency_p95_ms": lat.percentile(95),
            "latency_p99_ms": lat.percentile(99),
            "latency_max_ms": lat.max_ns / 1e6 if lat.count else math.nan,
            "latency_mean_ms": lat.mean(),
            "clock": self._clock.value,
            "datagrams_up": up,
            "datagrams_down": down,
            "legs": legs,
            "expected_loss": expected_loss(imp.loss, size, mode, legs=legs),
            "path": self.path,
        }
        if before is not None and after is not None:
            row["relay_dropped_up"] = after.dropped[0] - before.dropped[0]
            row["relay_dropped_down"] = after.dropped[1] - before.dropped[1]
            row["relay_datagrams_up"] = after.received[0] - before.received[0]
            row["relay_datagrams_down"] = after.received[1] - before.received[1]
        series = stats.bins.series(until=(send_end - t0) / 1e9)
        return RunResult(row=row, series=series, bin_width=self.bin_width, stats=stats)


@dataclass(slots=True)
class _Progress:
    sent: int = 0
    errors: int = 0
    backpressure: int = 0
    blocked: int = 0
    first_error: str = ""
    drained: bool = True


async def _wait_turn(start: float, seq: int, rate: float | None, deadline: float) -> bool:
    """Sleep until probe `seq` is due on an absolute schedule at `rate` from `start` (so a late wake-up does not
    push every later probe back); False once the run's `deadline` is reached. `rate` None: no pacing."""
    now = time.monotonic()
    if rate is None:
        return now < deadline
    due = start + seq / rate
    if due >= deadline:
        return False
    if due > now:
        await asyncio.sleep(due - now)
    return True


async def _send_data(
    session: Session,
    codec: ProbeCodec,
    reliable: bool,
    rate: float | None,
    deadline: float,
    limit: int,
    window: int,
    progress: _Progress,
    stats: ReceiverStats,
    max_in_flight: int | None,
) -> None:
    """`window` workers, each awaiting one publish at a time; paced on an absolute schedule when `rate` is set;
    with `max_in_flight`, never more than that many probes sent and not yet received."""
    publish = session.room.local_participant.publish_data
    start = time.monotonic()
    next_seq = 0

    async def worker() -> None:
        nonlocal next_seq
        while True:
            seq = next_seq
            if seq >= limit:
                return
            next_seq += 1
            if not await _wait_turn(start, seq, rate, deadline):
                return
            if max_in_flight is not None:
                while progress.sent - stats.seq.unique >= max_in_flight:
                    progress.blocked += 1
                    await asyncio.sleep(0.002)
                if time.monotonic() >= deadline:
                    return
            try:
                await publish(codec.encode(seq), reliable=reliable, topic=TOPIC)
            except PublishDataError as exc:
                progress.errors += 1
                progress.first_error = progress.first_error or str(exc)
                continue
            progress.sent += 1

    n = 1 if rate is not None and rate <= SEQUENTIAL_RATE else window
    await asyncio.gather(*(worker() for _ in range(n)))
    if progress.sent == 0 and progress.errors:
        raise LabError(f"the SDK refused every probe: {progress.first_error}")


async def _send_track(
    track: rtc.LocalDataTrack, codec: ProbeCodec, rate: float | None, deadline: float, limit: int, progress: _Progress
) -> None:
    """try_push is synchronous; pace it, and back off briefly when the SDK says frames come too fast."""
    start = time.monotonic()
    seq = 0
    while seq < limit:
        if not await _wait_turn(start, seq, rate, deadline):
            return
        try:
            track.try_push(rtc.DataTrackFrame(payload=codec.encode(seq)))
        except rtc.PushFrameError as exc:
            # The SDK's queue is full: it is the in-flight window. Retry the same sequence number shortly.
            progress.backpressure += 1
            progress.first_error = progress.first_error or exc.message
            if not track.is_published():
                raise LabError(f"the data track was unpublished while sending: {exc.message}") from exc
            await asyncio.sleep(0.001)
            continue
        progress.sent += 1
        seq += 1
        if rate is None and seq % 32 == 0:
            await asyncio.sleep(0)  # let the loop deliver what arrives while we push


async def _sample(
    mode: str,
    stats: ReceiverStats,
    progress: _Progress,
    t0: int,
    interval: float,
    on_sample: Callable[[LiveSample], None],
) -> None:
    last_t, last_n, last_b = 0.0, 0, 0
    while True:
        await asyncio.sleep(interval)
        t = (time.monotonic_ns() - t0) / 1e9
        n, b = stats.seq.unique, stats.bytes
        dt = max(1e-9, t - last_t)
        on_sample(LiveSample(mode, t, progress.sent, n, (n - last_n) / dt, (b - last_b) / dt))
        last_t, last_n, last_b = t, n, b
