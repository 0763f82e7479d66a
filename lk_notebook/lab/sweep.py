"""Sweeps: every combination of modes x sizes x rates x impairments, accumulated into one DataFrame.

Example::

    results = await measure(modes=["lossy", "reliable"], sizes=[200, 1200, 4000], rates=[200, 1000],
                            impairments=[Impairment(), Impairment(loss=0.1)], duration=2)
    results.frame                      # one row per mode x size x rate x impairment
    results.to_json("sweep.json"); results.to_csv("sweep.csv")

Every parameter of every combination is validated before the first probe is sent. A sweep is cancellable (cancel
its task, or `Sweep.cancel()`); the rows measured so far stay in `results`. Progress shows through `tqdm.auto`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LabError
from .dask_lab import ClusterLike
from .lab import Lab, LiveSample, RunResult, validate_run
from .probe import Mode
from .relay import Impairment
from .rows import COLUMNS, JSON_FIELDS, SERIES_COLUMNS, ResultRow, frame_of
from .spec import RunSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..server import LocalServer

__all__ = ["Results", "Sweep", "SweepProgress", "TqdmProgress", "measure", "sweep_plan"]


class SweepProgress(Protocol):
    """What a sweep reports its progress to: `TqdmProgress` (a widget in notebooks, text in terminals), or the
    LabWidget's bar (`lk_notebook.widgets.lab.WidgetProgress`)."""

    def start(self, total: int) -> None: ...
    def step(self, done: int, label: str) -> None: ...
    def close(self) -> None: ...


class TqdmProgress:
    """A `tqdm.auto` bar: an ipywidgets bar in notebooks, a text bar on stderr in terminals."""

    def __init__(self, **tqdm_options: Any) -> None:
        self._options = {"desc": "sweep", "unit": "run", **tqdm_options}
        self.bar: Any = None
        self.done = 0

    def start(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, **self._options)
        self.done = 0

    def step(self, done: int, label: str) -> None:
        if self.bar is None:
            return
        self.bar.set_postfix_str(label[:60], refresh=False)
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def step(self, done: int, label: str) -> None:
        pass

    def close(self) -> None:
        pass


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: None in its place, in nested lists and dicts too."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def default_progress() -> SweepProgress:
    return TqdmProgress()


@dataclass(slots=True)
class Results:
    """Rows and time series of a sweep, growing as runs finish."""

    runs: list[RunResult] = field(default_factory=list)
    cancelled: bool = False
    """True when the sweep was cancelled before every combination ran."""

    @property
    def rows(self) -> list[ResultRow]:
        return [r.row for r in self.runs]

    @property
    def frame(self) -> pd.DataFrame:
        """One row per mode x size x rate x impairment, columns in the ResultRow schema's order."""
        return frame_of(self.rows)

    @property
    def series(self) -> pd.DataFrame:
        """Goodput over time for every run (columns t, msgs_s, bytes_s, run_id, mode, size, rate, impairment)."""
        import pandas as pd

        frames = [r.series_frame() for r in self.runs]
        if not frames:
            empty: pd.DataFrame = pd.DataFrame(columns=list(SERIES_COLUMNS))
            return empty
        out: pd.DataFrame = pd.concat(frames, ignore_index=True)
        return out

    def json_rows(self) -> list[dict[str, Any]]:
        """Rows with the contract's fields first and NaN written as null (JSON has no NaN)."""
        out = []
        for run in self.runs:
            row = run.row
            ordered: dict[str, Any] = {k: row.get(k) for k in JSON_FIELDS}
            full: dict[str, Any] = dict(row)
            ordered.update({k: full[k] for k in COLUMNS if k in full and k not in ordered})
            if run.per_receiver:
                ordered["per_receiver"] = [dict(p) for p in run.per_receiver]
            out.append(_no_nan(ordered))
        return out

    def per_receiver_frame(self) -> pd.DataFrame:
        """One row per receiver (and sender) per fan-out/fan-in run, with the run's mode, size, rate, receivers."""
        import pandas as pd

        rows = [{"run_id": r.row["run_id"], "mode": r.row["mode"], "size": r.row["size"], "rate": r.row["rate"],
                 "receivers": r.row["receivers"], "senders": r.row["senders"], **p}
                for r in self.runs for p in r.per_receiver]  # fmt: skip
        frame: pd.DataFrame = pd.DataFrame(rows)
        return frame

    def to_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.json_rows(), indent=2, allow_nan=False) + "\n")
        return p

    def to_csv(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.frame.to_csv(p, index=False)
        return p

    def extend(self, other: Results) -> None:
        self.runs.extend(other.runs)


@dataclass(frozen=True, slots=True)
class Point:
    """One combination of a sweep."""

    mode: Mode
    size: int
    rate: float | None
    impairment: Impairment

    def label(self) -> str:
        rate = "max" if self.rate is None else f"{self.rate:g}/s"
        return f"{self.mode.value} {self.size}B {rate} {self.impairment.label()}"


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, str | int | float | Impairment):
        return [value]
    return list(value)


def sweep_plan(
    *,
    modes: Iterable[Mode | str] | Mode | str,
    sizes: Iterable[int] | int,
    rates: Iterable[float | None] | float | None,
    impairments: Iterable[Impairment | None] | Impairment | None,
    rounds: int = 1,
) -> list[Point]:
    """Every combination, `rounds` times. Modes vary fastest: the modes compared under one condition run back
    to back, in reversed order every other round (A B, B A, ...), so that a drift of the path or the host (an
    SCTP association's congestion window after losses, a busy neighbour) weighs on each mode alike. Run in blocks
    (all of A, then all of B), the later mode inherits what the earlier left behind."""
    if not isinstance(rounds, int) or rounds < 1:
        raise LabError(f"rounds must be an integer >= 1, got {rounds!r}")
    mode_list = []
    for mode in _as_list(modes):
        try:
            mode_list.append(Mode(mode))
        except ValueError:
            raise LabError(f"unknown mode {mode!r}: use one of {', '.join(x.value for x in Mode)}") from None
    imps = [i or Impairment() for i in _as_list(impairments)]
    plan: list[Point] = []
    for r in range(rounds):
        order = mode_list if r % 2 == 0 else mode_list[::-1]
        for imp, size, rate in itertools.product(imps, _as_list(sizes), _as_list(rates)):
            plan.extend(Point(m, size, rate, imp) for m in order)
    if not plan:
        raise LabError("the sweep is empty: give at least one mode, size, rate and impairment")
    return plan


class Sweep:
    """A running sweep; `await sweep` (or `await sweep.task`) for its Results, `cancel()` to stop early."""

    def __init__(self, lab: Lab, plan: Sequence[Point], *, duration: float | None, count: int | None,
                 progress: SweepProgress, on_sample: Callable[[LiveSample], None] | None,
                 on_result: Callable[[RunResult], None] | None, senders: int = 1,
                 receivers: int = 1) -> None:  # fmt: skip
        self.lab = lab
        self.plan = list(plan)
        self.duration = duration
        self.count = count
        self.progress = progress
        self.on_sample = on_sample
        self.on_result = on_result
        self.senders, self.receivers = senders, receivers
        self.results = Results()
        self.task: asyncio.Task[Results] | None = None

    def validate(self) -> None:
        for p in self.plan:
            self.lab.validate(
                mode=p.mode, size=p.size, rate=p.rate, duration=self.duration, count=self.count, impairment=p.impairment
            )

    async def run(self) -> Results:
        self.validate()
        self.progress.start(len(self.plan))
        try:
            if any(p.mode is Mode.DATA_TRACK for p in self.plan):
                # A server without data tracks must fail the sweep before any probe of any mode is sent.
                await self.lab.start()
                await self.lab.prepare_data_track()
            for i, p in enumerate(self.plan):
                self.progress.step(i, p.label())
                result = await self.lab.run(
                    mode=p.mode,
                    size=p.size,
                    rate=p.rate,
                    duration=self.duration,
                    count=self.count,
                    impairment=p.impairment,
                    on_sample=self.on_sample,
                    senders=self.senders,
                    receivers=self.receivers,
                )
                self.results.runs.append(result)
                if self.on_result is not None:
                    self.on_result(result)
            self.progress.step(len(self.plan), "done")
        except asyncio.CancelledError:
            self.results.cancelled = True
            self.progress.step(len(self.results.runs), "cancelled")
            raise
        finally:
            self.progress.close()
        return self.results

    def start(self) -> Sweep:
        """Run in the background (a task owned by the lab); returns self at once."""
        self.validate()
        self.task = self.lab.tasks.spawn(self.run(), name="sweep")
        return self

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def __await__(self) -> Any:
        if self.task is None:
            return self.run().__await__()
        return self.task.__await__()


async def measure(
    *,
    modes: Iterable[Mode | str] | Mode | str = ("lossy", "reliable"),
    sizes: Iterable[int] | int = (200, 1200, 4000),
    rates: Iterable[float | None] | float | None = 500.0,
    impairments: Iterable[Impairment | None] | Impairment | None = None,
    duration: float | None = 2.0,
    count: int | None = None,
    lab: Lab | None = None,
    progress: SweepProgress | bool = True,
    on_sample: Callable[[LiveSample], None] | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    senders: int = 1,
    receivers: int = 1,
    rounds: int = 1,
    server: LocalServer | None = None,
    cluster: ClusterLike = None,
    workers: int = 2,
) -> Results:
    """Measure every combination and return the Results (frame, series, JSON/CSV export).

    The modes compared under one condition run back to back; `rounds` > 1 repeats the whole plan, alternating
    the modes' order (see `sweep_plan`), and gives one row per run (aggregate them, e.g. the median per cell).

    Uses `lab` when given (and leaves it open), else a fresh `Lab()` (a local server with the relay, unless
    LIVEKIT_URL is set) that is closed afterwards. `server`: a fresh `Lab(server=server)` instead, whatever
    LIVEKIT_URL says (`server=lk_notebook.LocalServer(relay=True)` to impair; `lk-notebook bench --local`).
    If the sweep is cancelled, CancelledError propagates; pass
    `on_result` to keep rows as they arrive. `senders`/`receivers` > 1: fan-in/fan-out rooms (every run).

    `cluster`: run the participants on Dask (`lk_notebook.lab.dask_lab`): "local" (a LocalCluster of `workers`
    processes), a `distributed.Client`, or a scheduler address "tcp://host:port". Each run then gives one row per
    worker (`worker`, `worker_status`, `clock_offset_ms`, `clock_bound_ms`); unimpaired data messages only.
    """
    if lab is not None and server is not None:
        raise LabError("pass lab= or server= to measure, not both (a lab already has its server)")
    if cluster is not None and server is not None:
        raise LabError(
            "pass cluster= or server= to measure, not both: runs on a Dask cluster are unimpaired (the relay's path "
            "proof covers this process's participants only), and a lab server is what impairment needs"
        )
    if cluster is not None:
        plan = sweep_plan(modes=modes, sizes=sizes, rates=rates, impairments=impairments, rounds=rounds)
        bar = default_progress() if progress is True else (progress or _NoProgress())
        return await _measure_on_cluster(plan, cluster, workers, lab, duration=duration, count=count, progress=bar,
                                         on_result=on_result, senders=senders, receivers=receivers)  # fmt: skip
    own = lab is None
    the_lab = lab or (Lab(server=server) if server is not None else Lab())
    plan = sweep_plan(modes=modes, sizes=sizes, rates=rates, impairments=impairments, rounds=rounds)
    prog: SweepProgress = default_progress() if progress is True else (progress or _NoProgress())
    sweep = Sweep(the_lab, plan, duration=duration, count=count, progress=prog, on_sample=on_sample,
                  on_result=on_result, senders=senders, receivers=receivers)  # fmt: skip
    sweep.validate()  # before starting a server or sending anything
    try:
        await the_lab.start()
        return await sweep.run()
    finally:
        if own:
            await the_lab.aclose()


async def _measure_on_cluster(
    plan: list[Point], cluster: ClusterLike, workers: int, lab: Lab | None, *, duration: float | None,
    count: int | None, progress: SweepProgress, on_result: Callable[[RunResult], None] | None, senders: int,
    receivers: int,
) -> Results:  # fmt: skip
    """The sweep with its participants on Dask workers; the room and the server stay here."""
    from contextlib import AsyncExitStack

    from ..config import resolve_credentials
    from .dask_lab import cluster_client, run_on_cluster

    if senders < 1 or receivers < 1:
        raise LabError(f"senders and receivers must be >= 1, got {senders} and {receivers}")
    specs = [RunSpec(p.mode, p.size, p.rate, duration, count, p.impairment) for p in plan]
    for p in plan:
        validate_run(mode=p.mode, size=p.size, rate=p.rate, duration=duration, count=count, impairment=p.impairment,
                     relay_available=False)  # fmt: skip
        if p.mode not in (Mode.LOSSY, Mode.RELIABLE) or p.impairment.active:
            raise LabError("the lab on Dask measures unimpaired lossy and reliable data messages")
    results = Results()
    async with AsyncExitStack() as stack:
        if lab is not None:
            await lab.start()
            creds = lab.rig.credentials
        else:
            creds = await asyncio.to_thread(resolve_credentials)
        client = await cluster_client(stack, cluster, workers=workers)
        progress.start(len(plan))
        try:
            for i, (p, spec) in enumerate(zip(plan, specs, strict=True)):
                progress.step(i, p.label())
                for result in await run_on_cluster(client, creds, spec, senders=senders, receivers=receivers):
                    results.runs.append(result)
                    if on_result is not None:
                        on_result(result)
            progress.step(len(plan), "done")
        except asyncio.CancelledError:
            results.cancelled = True
            raise
        finally:
            progress.close()
    return results
