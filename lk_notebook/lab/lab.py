"""The delivery lab: a rig (server, relay, sender, receiver) and the runs measured on it.

Example::

    async with Lab() as lab:                                  # local server + impairment relay, two participants
        result = await lab.run(mode="lossy", size=200, rate=500, duration=2, impairment=Impairment(loss=0.1))
        result.row["loss_rate"], result.row["expected_loss"], result.row["bound"]

`Lab` holds a `Rig` (`lab.rig`, `lk_notebook.lab.rig`: the server, the relay, the participants, the path checks and
the measurement window), validates run parameters and measures each run with a fresh run of its kind: `Run`
(`lk_notebook.lab.packets`: lossy, reliable, data tracks), `FanRun` (`lab.fan`) or `TransferRun` (`lab.transfer`).
With no arguments the lab starts its own `LocalServer(relay=True)` and relay, unless `LIVEKIT_URL` is set: then it
runs against that server and refuses any impairment (it cannot put a relay in front of a server it did not start,
even one on loopback: pass `server=LocalServer(relay=True)` for that).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypedDict, TypeVar, cast

from livekit import rtc

from .. import limits
from .._tasks import TaskOwner
from ..config import Credentials
from ..errors import LabError
from ..session import Session
from .datatrack import require_data_track_sdk
from .pacing import DEFAULT_WINDOW
from .packets import LiveSample, Run, RunResult
from .paths import PathError, check_path
from .placement import no_relay_advice
from .probe import HEADER_SIZE, Mode
from .relay import NO_IMPAIRMENT, Impairment, ImpairmentRelay
from .rig import TOPIC, Rig, RigOptions, Sink, StartClose
from .spec import RunSpec
from .transfer import TRANSFER_MAX_BYTES, TransferRun

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_WINDOW", "TOPIC", "Lab", "LiveSample", "PathError", "RunResult", "check_path", "validate_run"]

T = TypeVar("T")

DATA_TRACK_MAX_BYTES = 60_000
"""Largest data-track frame the lab sends (frames are packetised by the SDK; kept below the data packet limit)."""


def max_size(mode: Mode, *, identity: str) -> int:
    """The largest probe payload `mode` can carry for this sender (the SDK's 64000-byte encoded limit)."""
    if mode is Mode.DATA_TRACK:
        return DATA_TRACK_MAX_BYTES
    if mode.is_transfer:
        return TRANSFER_MAX_BYTES
    overhead = limits.packet_size(b"", topic=TOPIC, identity=identity)
    # varint length prefixes grow with the payload; 8 bytes covers them
    return limits.SDK_MAX_PACKET_BYTES - overhead - 8


class RunParameters(TypedDict):
    """One run's parameters as a user gives them (`Lab.run`), before `validate_run` checks them."""

    mode: Mode | str
    size: int
    rate: float | None
    duration: float | None
    count: int | None
    impairment: Impairment | None


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
        require_data_track_sdk()
    if not isinstance(size, int) or isinstance(size, bool):
        raise LabError(f"size must be an int number of bytes, got {size!r}")
    if size < HEADER_SIZE:
        raise LabError(f"size {size} is below the probe header ({HEADER_SIZE} bytes); use at least {HEADER_SIZE}")
    top = max_size(m, identity=identity)
    if size > top:
        raise LabError(
            f"size {size} is over the {m.value} limit of {top} bytes for a probe (the SDK refuses encoded data "
            f"packets over {limits.SDK_MAX_PACKET_BYTES} bytes; streams and RPC runs go up to "
            f"{TRANSFER_MAX_BYTES} bytes); pick a smaller size."
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
        raise LabError(no_relay_advice())
    return m


class _FromRig(Generic[T]):
    """A read-only attribute of the Lab that is its rig's attribute of the same name (what Lab showed as a Rig)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, lab: Lab | None, owner: type | None = None) -> T:
        if lab is None:  # on the class (help(), inspect): the descriptor itself
            return cast(T, self)
        return cast(T, getattr(lab.rig, self.name))

    def __set__(self, lab: Lab, value: T) -> None:
        raise AttributeError(f"Lab.{self.name} is its rig's: set lab.rig.{self.name}")


class Lab(StartClose):
    """A rig (`lab.rig`: a sender and a receiver joined to one room) and the runs measured between them.

    Example::

        lab = await Lab().start()
        r = await lab.run(mode="reliable", size=1200, rate=200, duration=2)
        await lab.aclose()

    `server`: a LocalServer to use (in relay layout for impairment). `url`/`api_key`/`api_secret`: a remote server
    (no impairment). `cluster` + `topology`: a LocalCluster, participants and room on chosen nodes (see
    `ClusterTopology`). Neither: LIVEKIT_URL if set, else a fresh LocalServer(relay=True) owned by the lab. Or a
    `rig` made beforehand (then the other arguments are not given).
    """

    def __init__(self, *, rig: Rig | None = None, bin_width: float = 0.1, **options: Unpack[RigOptions]) -> None:
        if rig is not None and options:
            raise LabError(f"pass a rig or the rig's options ({', '.join(options)}), not both")
        self.rig = rig if rig is not None else Rig(**options)
        self.bin_width = bin_width

    # -- the rig's lifecycle and parts, as Lab showed them when it was a Rig ----------------------------------------
    async def start(self) -> Lab:
        await self.rig.start()
        return self

    async def aclose(self) -> None:
        await self.rig.aclose()

    def __repr__(self) -> str:
        return f"<Lab room={self.rig.room_name!r} path={self.rig.path!r}>"

    relay = _FromRig[ImpairmentRelay | None]()
    relays = _FromRig[list[ImpairmentRelay]]()
    relay_available = _FromRig[bool]()
    sender = _FromRig[Session | None]()
    senders = _FromRig[list[Session]]()
    receivers = _FromRig[list[Session]]()
    receiver = _FromRig[Session | None]()
    path = _FromRig[str]()
    room_name = _FromRig[str]()
    sender_identity = _FromRig[str]()
    foreign = _FromRig[int]()
    tasks = _FromRig[TaskOwner]()
    credentials = _FromRig[Credentials]()

    @property
    def sink(self) -> Sink | None:
        return self.rig.sink

    @sink.setter
    def sink(self, value: Sink | None) -> None:
        self.rig.sink = value

    async def join(self, identity: str, *, node: int | None = None) -> Session:
        return await self.rig.join(identity, node=node)

    async def leave(self, session: Session) -> None:
        await self.rig.leave(session)

    async def ensure(self, *, senders: int = 1, receivers: int = 1) -> None:
        await self.rig.ensure(senders=senders, receivers=receivers)

    async def check_paths(self) -> str:
        return await self.rig.check_paths()

    async def prepare_data_track(self) -> rtc.LocalDataTrack:
        return await self.rig.prepare_data_track()

    # -- runs -----------------------------------------------------------------------------------------------------
    def validate(self, **run: Unpack[RunParameters]) -> Mode:
        """`validate_run` for this lab's relay and sender."""
        return validate_run(**run, relay_available=self.rig.relay_available, identity=self.rig.sender_identity)

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
        senders: int = 1,
        receivers: int = 1,
    ) -> RunResult:
        """Send probes of `size` bytes in `mode` at `rate` messages/s (None: as fast as a window of `window`
        publishes in flight allows) for `duration` seconds or `count` messages, under `impairment`.

        Reliable probes in flight end to end (sent, not yet received) are bounded by `max_in_flight` (default:
        128 KiB worth, at most 512): a sender faster than the path then slows down instead of queueing seconds of
        backlog in SCTP; `offered_msgs_s` shows what it managed, and `bound` says whether the path or the lab's
        own process set the pace.

        `on_sample` is called every `sample_interval` seconds with a LiveSample (for live plots). `senders` > 1
        (fan-in: each sends at `rate`) or `receivers` > 1 (fan-out: each gets every message) joins that many
        participants (`lk_notebook.lab.fan`; at most 50 together); `per_receiver` then holds each one's numbers."""
        m = self.validate(mode=mode, size=size, rate=rate, duration=duration, count=count, impairment=impairment)
        if window < 1:
            raise LabError(f"window must be >= 1, got {window}")
        rig = self.rig
        await rig.start()
        spec = RunSpec(m, size, rate, duration, count, impairment or NO_IMPAIRMENT, self.bin_width)
        if m.is_transfer:
            if senders != 1 or receivers != 1:
                raise LabError(f"mode {m.value!r} runs one sender and one receiver; fan-out/in is for packet modes")
            return await TransferRun(rig, spec).execute()
        if senders != 1 or receivers != 1:
            from .fan import FanRun

            fan = FanRun(rig, spec, window=window, max_in_flight=max_in_flight, senders=senders, receivers=receivers)
            return await fan.execute()
        run = Run(rig, spec, window=window, max_in_flight=max_in_flight, on_sample=on_sample,
                  sample_interval=sample_interval)  # fmt: skip
        return await run.execute()
