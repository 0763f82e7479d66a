"""Plots of lab results, as matplotlib Figures (returned, never only shown; no pyplot global state).

Example::

    results = await measure(...)
    loss_vs_size(results.frame).savefig("loss.png")     # measured loss per mode, theory beside it
    latency_cdf(results.runs)                            # one CDF per mode (from the fixed-size histograms)
    knee(results.frame)                                  # loss and latency vs send rate
    throughput_over_time(results.series)                 # goodput per mode over time

The live view of a running sweep, `LivePlot`, is in `lk_notebook.widgets.liveplot`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from matplotlib.figure import Figure

from .packets import PeerStats, RunResult
from .rows import ResultRow, SeriesRow, columns
from .theory import expected_loss, mathis_msgs_s

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MODE_COLORS",
    "fan_out",
    "knee",
    "latency_cdf",
    "loss_vs_size",
    "mode_color",
    "new_figure",
    "save_all",
    "show_figures_inline",
    "throughput_over_time",
]

(MODE, SIZE, RATE, IMPAIRMENT, LOSS_SETTING, DELAY_SETTING, LOSS_RATE, LEGS, OFFERED, P50, P99, BOUND, RECEIVERS) = (
    columns(
        ResultRow,
        "mode",
        "size",
        "rate",
        "impairment",
        "loss_setting",
        "delay_setting",
        "loss_rate",
        "legs",
        "offered_msgs_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "bound",
        "receivers",
    )
)
T, MSGS_S, RUN_ID = columns(SeriesRow, "t", "msgs_s", "run_id")
(ROLE,) = columns(PeerStats, "role")
"""The columns the plots read, named once here and checked against the row types at import."""


MODE_COLORS = {"lossy": "tab:orange", "reliable": "tab:blue", "data_track": "tab:green"}


def mode_color(mode: str) -> str:
    return MODE_COLORS.get(mode, "tab:gray")


def show_figures_inline() -> None:
    """Make a Figure at the end of a notebook cell show as a picture (PNG), unless IPython already draws them.

    IPython registers its Figure formatters only on `%matplotlib inline` (measured: ipykernel 7.4, matplotlib 3.11,
    importing pyplot does not do it), and these plots never touch pyplot, so a fresh kernel showed the text
    "<Figure size 640x400 with 1 Axes>" instead of the plot. A format the user chose (svg, retina) is kept."""
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:  # no IPython: a script, which saves or shows its figures itself
        return
    shell: Any = get_ipython()  # type: ignore[no-untyped-call]
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    for mime in ("image/png", "image/svg+xml", "application/pdf", "image/jpeg"):
        printers = formatters[mime]
        if Figure in printers.type_printers or ("matplotlib.figure", "Figure") in printers.deferred_printers:
            return
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(shell, {"png"})  # type: ignore[no-untyped-call]


def new_figure(
    ncols: int = 1, width: float = 6.4, height: float = 4.0, *, layout: Literal["constrained"] | None = "constrained"
) -> tuple[Figure, list[Any]]:
    show_figures_inline()
    fig = Figure(figsize=(width * ncols, height), layout=layout)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _lowest_rate(frame: pd.DataFrame) -> float | None:
    rates = [float(r) for r in frame[RATE].dropna().unique()] if RATE in frame else []
    return min(rates) if rates else None


def _at_rate(frame: pd.DataFrame, rate: float | None) -> pd.DataFrame:
    if rate is None:
        return frame[frame[RATE].isna()] if frame[RATE].isna().any() else frame
    sel: pd.DataFrame = frame[frame[RATE] == rate]
    return sel


def loss_vs_size(frame: pd.DataFrame, *, rate: float | str | None = "lowest", title: str | None = None) -> Figure:
    """Measured loss vs message size at one send rate (default: the lowest in the frame, below the knee), one line
    per mode and impairment, with the theory 1-(1-p)^(k·legs) dashed beside it."""
    fig, (ax,) = new_figure()
    chosen = _lowest_rate(frame) if rate == "lowest" else rate
    assert not isinstance(chosen, str)
    sub = _at_rate(frame, chosen)
    styles = ["o-", "s--", "^-.", "d:"]
    impairments = [i for i in dict.fromkeys(sub[IMPAIRMENT]) if i != "none"]
    drawn: set[tuple[str, float]] = set()
    for key, g in sub.groupby([MODE, LOSS_SETTING, IMPAIRMENT], sort=True):
        mode, loss, label = cast(tuple[str, float, str], key)
        g = g.groupby(SIZE, as_index=False).agg({LOSS_RATE: "mean", LEGS: "max"})
        style = "x:" if label == "none" else styles[impairments.index(label) % len(styles)]
        ax.plot(g[SIZE], g[LOSS_RATE], style, color=mode_color(mode), label=f"{mode} measured ({label})")
        # reliable: theory is 0 at any p (retransmitted until delivered); one theory line per mode and p
        if loss > 0 and mode != "reliable" and (mode, loss) not in drawn:
            drawn.add((mode, loss))
            sizes = sorted(set(g[SIZE]))
            dense = sorted(set(sizes) | set(_dense(min(sizes), max(sizes))))
            legs = int(g[LEGS].max()) if len(g) else 2
            theory = [expected_loss(loss, s, mode, legs=legs) for s in dense]
            ax.plot(dense, theory, color=mode_color(mode), alpha=0.35, lw=3, label=f"{mode} theory (p={loss:g})")
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("messages lost (fraction)")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    at = "max rate" if chosen is None else f"{chosen:g} msg/s"
    ax.set_title(title or f"Loss vs size at {at} (theory: 1-(1-p)^(datagrams per leg × legs))", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def _dense(lo: int, hi: int) -> list[int]:
    if lo >= hi:
        return [lo]
    n = 60
    return [int(lo * (hi / lo) ** (i / n)) for i in range(n + 1)]


def latency_cdf(
    runs: Iterable[RunResult],
    *,
    size: int | str | None = "smallest",
    rate: float | str | None = "lowest",
    title: str | None = None,
) -> Figure:
    """Latency CDF per mode (and impairment) at one size and rate (defaults: the smallest size and lowest rate
    measured; None for every size/rate), from each run's fixed-size histogram."""
    runs = list(runs)
    sizes = sorted({r.row["size"] for r in runs})
    rates = sorted({r.row["rate"] for r in runs if r.row["rate"] is not None})
    want_size = (sizes[0] if sizes else None) if size == "smallest" else size
    want_rate = (rates[0] if rates else None) if rate == "lowest" else rate
    fig, (ax,) = new_figure()
    for r in runs:
        row = r.row
        if want_size is not None and row["size"] != want_size:
            continue
        if want_rate is not None and row["rate"] != want_rate:
            continue
        xs, ys = r.stats.latency.cdf()
        if not xs:
            continue
        style = "-" if row["impairment"] == "none" else "--"
        rate_label = "max" if row["rate"] is None else f"{row['rate']:g}/s"
        ax.step(xs, ys, style, where="post", color=mode_color(row["mode"]),
                label=f"{row['mode']} {row['size']}B {rate_label} {row['impairment']}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("one-way latency (ms)")
    ax.set_ylabel("fraction of delivered messages")
    ax.set_ylim(0, 1.01)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or "Latency CDF per mode")
    ax.legend(fontsize="small")
    return fig


def knee(frame: pd.DataFrame, *, size: int | str | None = "smallest", title: str | None = None) -> Figure:
    """Loss and latency (p50 solid, p99 dashed) vs offered send rate, per mode and impairment, at one size
    (default: the smallest measured; None for all): where delivery stops keeping up."""
    fig, (ax_loss, ax_lat) = new_figure(2, width=5.5, height=4.5)
    want = (int(frame[SIZE].min()) if len(frame) else None) if size == "smallest" else size
    sub = frame if want is None else frame[frame[SIZE] == want]
    for key, g in sub.groupby([MODE, SIZE, IMPAIRMENT], sort=True):
        mode, sz, imp = cast(tuple[str, int, str], key)
        g = g.sort_values(OFFERED)
        c = mode_color(mode)
        style = "o-" if imp == "none" else "s--"
        label = f"{mode} {sz}B {imp}"
        ax_loss.plot(g[OFFERED], g[LOSS_RATE], style, color=c, label=label)
        ax_lat.plot(g[OFFERED], g[P50], style, color=c, label=f"{label} p50")
        ax_lat.plot(g[OFFERED], g[P99], style, color=c, alpha=0.35)
        loss_p = float(g[LOSS_SETTING].max()) if LOSS_SETTING in g else 0.0
        if loss_p > 0:
            delay = float(g[DELAY_SETTING].max()) if DELAY_SETTING in g else 0.0
            ceiling = mathis_msgs_s(int(sz), loss=loss_p, delay_ms=delay, mode=mode)
            for ax in (ax_loss, ax_lat):
                ax.axvline(ceiling, color=c, linestyle=":", linewidth=1)
            ax_loss.annotate(f"Mathis {ceiling:,.0f}/s", (ceiling, 0), rotation=90, fontsize="x-small", color=c,
                             xytext=(2, 4), textcoords="offset points")  # fmt: skip
    _shade_client_bound(sub, (ax_loss, ax_lat))
    for ax in (ax_loss, ax_lat):
        ax.set_xlabel("offered rate (messages/s)")
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
    ax_loss.set_ylabel("messages lost (fraction)")
    ax_loss.set_ylim(bottom=0)
    ax_lat.set_ylabel("latency (ms): p50, p99 faint")
    ax_lat.set_yscale("log")
    ax_loss.legend(fontsize="x-small")
    fig.suptitle(title or "Loss and latency vs send rate (the knee)")
    return fig


def fan_out(results: Any, *, title: str | None = None) -> Figure:
    """Latency (p50, p99) and loss vs the number of receivers, per mode, with every receiver's own p99 and loss as
    dots: how a room's size spreads delivery. `results`: a sweep's Results with fan-out runs."""
    fig, (ax_lat, ax_loss) = new_figure(2, width=5.5, height=4.5)
    frame = results.frame
    peers = results.per_receiver_frame()
    for mode, g in frame.groupby(MODE, sort=True):
        g = g.sort_values(RECEIVERS)
        c = mode_color(str(mode))
        ax_lat.plot(g[RECEIVERS], g[P50], "o-", color=c, label=f"{mode} p50 (all deliveries)")
        ax_lat.plot(g[RECEIVERS], g[P99], "s--", color=c, alpha=0.6, label=f"{mode} p99")
        ax_loss.plot(g[RECEIVERS], g[LOSS_RATE], "o-", color=c, label=f"{mode} (all deliveries)")
        if len(peers):
            p = peers[(peers[MODE] == mode) & (peers[ROLE] == "receiver")]
            ax_lat.scatter(p[RECEIVERS], p[P99], s=8, color=c, alpha=0.35)
            ax_loss.scatter(p[RECEIVERS], p[LOSS_RATE], s=8, color=c, alpha=0.35)
    _shade_client_bound(frame.assign(**{OFFERED: frame[RECEIVERS]}), (ax_lat, ax_loss))
    for ax in (ax_lat, ax_loss):
        ax.set_xlabel("receivers in the room (each gets every message)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small")
    ax_lat.set_ylabel("latency (ms); dots: each receiver's p99")
    ax_lat.set_yscale("log")
    ax_loss.set_ylabel("messages lost (fraction); dots: per receiver")
    ax_loss.set_ylim(bottom=0)
    fig.suptitle(title or "Fan-out: delivery vs room size")
    return fig


def _shade_client_bound(frame: pd.DataFrame, axes: Iterable[Any]) -> None:
    """Grey the send rates where the lab's own process was the limit (`bound` "client"): what happens there says
    more about the instrument than about LiveKit. The region starts at the lowest such rate on an unimpaired path
    (the instrument's own ceiling; under impairment the path slows the client's calls too), or on any path when
    only impaired rows were client-bound."""
    if BOUND not in frame or not (frame[BOUND] == "client").any():
        return
    client = frame[frame[BOUND] == "client"]
    clean = client[client[IMPAIRMENT] == "none"] if IMPAIRMENT in client else client
    lo = float((clean if len(clean) else client)[OFFERED].min())
    hi = float(frame[OFFERED].max()) * 1.5
    for ax in axes:
        ax.axvspan(lo, hi, color="0.85", alpha=0.6, zorder=0, label="client-bound (the lab's own limit)")


def throughput_over_time(
    series: pd.DataFrame,
    *,
    size: int | str | None = "smallest",
    rate: float | str | None = "highest",
    smooth: float = 0.5,
    title: str | None = None,
) -> Figure:
    """Goodput (messages/s) over time per mode and impairment, for one size and rate of a Results.series frame
    (defaults: the smallest size and the highest rate measured, "max" counting as highest; None for all),
    averaged over `smooth` seconds."""
    fig, (ax,) = new_figure()
    sub = series
    if size == "smallest" and len(sub):
        size = int(sub[SIZE].min())
    if size is not None:
        sub = sub[sub[SIZE] == size]
    if rate == "highest" and len(sub):
        rate = None if sub[RATE].isna().any() else float(sub[RATE].max())
        sub = sub[sub[RATE].isna()] if rate is None else sub[sub[RATE] == rate]
    elif rate is not None and rate != "highest":
        sub = sub[sub[RATE] == rate]
    for _run_id, g in sub.groupby(RUN_ID, sort=False):
        mode = str(g[MODE].iloc[0])
        imp = str(g[IMPAIRMENT].iloc[0])
        width = float(g[T].diff().median()) if len(g) > 1 else 0.1
        window = max(1, round(smooth / width)) if width > 0 else 1
        ys = g[MSGS_S].rolling(window, min_periods=1).mean()
        r = g[RATE].iloc[0]
        label = f"{mode} {g['size'].iloc[0]}B {'max' if pd_isna(r) else f'{r:g}/s'} {imp}"
        ax.plot(g[T], ys, "-" if imp == "none" else "--", color=mode_color(mode), label=label)
    ax.set_xlabel("time since run start (s)")
    ax.set_ylabel(f"goodput (messages/s, {smooth:g} s mean)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or "Goodput over time per mode")
    ax.legend(fontsize="small")
    return fig


def pd_isna(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def save_all(results: Any, directory: str, *, prefix: str = "lab") -> dict[str, str]:
    """Write one PNG of each plot kind for a Results; returns {kind: path}."""
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    figures: Sequence[tuple[str, Figure]] = [
        ("throughput", throughput_over_time(results.series)),
        ("loss_vs_size", loss_vs_size(results.frame)),
        ("latency_cdf", latency_cdf(results.runs)),
        ("knee", knee(results.frame)),
    ]
    paths = {}
    for kind, fig in figures:
        path = out / f"{prefix}_{kind}.png"
        fig.savefig(path, dpi=100)
        paths[kind] = str(path)
    return paths
