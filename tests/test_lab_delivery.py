"""The delivery lab against a real livekit-server behind the lab's UDP relay (LocalServer(relay=True)).

How the theory is checked, with nothing compared with itself:

- k, the datagrams a message takes on each leg, is *counted* by the relay (probe-bearing datagrams, >= 200 B) and
  compared with what the lab computes; n is chosen so that 4 standard deviations of the count-based estimate stay
  under 1/2, i.e. k is told apart from k - 1 and k + 1.
- The relay's realised drop fraction per leg is compared with the setting: binomial over the datagrams it saw.
- Message loss is compared with 1 - (1 - p_up)^k_up (1 - p_down)^k_down built from the legs' *measured* p, within
  CHECK_SIGMA (4) binomial standard deviations sqrt(q(1-q)/n). For one-datagram messages that is nearly an identity
  with the measurement (given the relay's drops, each message's fate is fixed), so it is not the check that counts:
- Conservation is: the messages lost are exactly those the relay's drops cost. The relay numbers the probe-bearing
  datagrams of each flow and logs which it dropped (`lk_notebook.lab.droplog`); a message is lost iff any of its
  datagrams on either leg was dropped (k = 1: a dropped datagram costs the messages bundled in it, by its size).
- And the *setting's* formula 1 - (1 - p)^(2k) is checked against the measured loss, with no condition, within
  CHECK_SIGMA binomial standard deviations: a miscount or a wrong k shows there.

A row the lab labels client-bound (its own process or this host limited the run) does not let a test pass
silently: the test warns (`ClientBoundWarning`, in pytest's summary) and measures again at a lower rate, where the
claim is checked in full.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any

import pytest

from lk_notebook.config import Credentials
from lk_notebook.errors import LabError
from lk_notebook.joining import join
from lk_notebook.lab import Impairment, ImpairmentRelay, Lab, PathError, RunResult, check_path, measure
from lk_notebook.lab.probe import Mode
from lk_notebook.lab.theory import datagrams_per_message, loss_tolerance
from lk_notebook.server import LocalServer, RelayLayout

from .claims import STATE_VS_MESSAGE_P50

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

LAB_SEED = 1234
"""Seeds the relay of the `lab` fixture (tests/conftest.py)."""


def tolerance(q: float, n: int) -> float:
    """CHECK_SIGMA binomial standard deviations of a fraction q measured over n trials (one constant for the tests,
    notebook 06 and the README)."""
    return loss_tolerance(q, n)


def brief(row: Any) -> dict[str, Any]:
    """The columns a conservation failure is read from."""
    keys = ("sent", "received", "lost", "relay_lost_deliveries", "relay_messages_up", "relay_messages_down",
            "relay_data_datagrams_up",
            "relay_data_datagrams_down", "relay_data_dropped_up", "relay_data_dropped_down", "wire_ratio",
            "relay_split_datagrams_up", "server_dropped_frames", "host_udp_drops", "udp_drops_where", "send_errors",
            "backpressure",
            "bound_reason")  # fmt: skip
    return {key: row.get(key) for key in keys}


class ClientBoundWarning(UserWarning):
    """A row was client-bound: the claim was checked again at a lower rate (shown in pytest's warnings summary)."""


class HostFullWarning(UserWarning):
    """A check of the receivers' CPU could not be made: the host had no idle CPU (shown in pytest's summary)."""


SLOWER_TRIES = 3
"""Measurements at halved rates a test tries after a client-bound row (same number of messages) before failing."""
HOST_CPU_FULL = 0.95
"""A row's `host_cpu` at or above this: no CPU was idle, so a process got its share of the host rather than what it
needed (measured: 0.998-1.0 beside one CPU-bound process during a heavy fan-out, 0.74-0.76 without it)."""


async def path_bound(lab: Lab, claim: str, **run: Any) -> RunResult:
    """`lab.run(**run)`, and while its row is client-bound (the lab's process or this host, not LiveKit, limited it,
    so `claim` cannot be checked on it), warn and measure again at half the rate for twice as long. Returns the
    first path-bound result; fails the test when every try was client-bound."""
    rate, duration = run.pop("rate"), run.pop("duration")
    reasons = []
    for _ in range(1 + SLOWER_TRIES):
        r = await lab.run(rate=rate, duration=duration, **run)
        if r.row["bound"] == "path":
            return r
        reasons.append(f"{rate:g}/s: {r.row['bound_reason']}")
        warnings.warn(
            ClientBoundWarning(f"{claim}: client-bound at {rate:g}/s ({r.row['bound_reason']}); measuring again at "
                               f"{rate / 2:g}/s"),
            stacklevel=2,
        )  # fmt: skip
        rate, duration = rate / 2, duration * 2
    pytest.fail(f"{claim}: every try was client-bound, so it was never checked: {reasons}")


def measured_k(row: dict[str, Any]) -> tuple[float, float, float]:
    """(k_up, k_down, 4 sigma of k_down) counted by the relay: probe-bearing datagrams per message on each leg.

    Up: datagrams from the sender / messages sent (a count, no sampling error; rare sender-side bundling of two
    small messages lowers it by < 1 %). Down: datagrams to the receiver / messages that reached the server, where
    the latter is n q with q = (1 - p_up)^k_up the measured survival of the up leg; its binomial sd sqrt(n q (1-q))
    gives sd(k_down) = k_down sqrt((1-q)/(n q))."""
    n = row["sent"]
    k_up = row["relay_data_datagrams_up"] / n
    q = (1 - row["leg_loss_up"]) ** round(k_up)
    k_down = row["relay_data_datagrams_down"] / (n * q)
    return k_up, k_down, 4 * k_down * math.sqrt((1 - q) / (n * q))


async def test_lab_path_goes_through_the_relay(lab: Lab) -> None:
    assert lab.relay is not None
    assert lab.path.startswith("relay 127.0.0.2:")
    assert lab.relay.stats().clients >= 2


async def test_no_impairment_loses_nothing(lab: Lab) -> None:
    for mode in ("lossy", "reliable"):
        first = await lab.run(mode=mode, size=200, rate=200, duration=1.5)
        if first.row["lost"] and first.row["host_udp_drops"]:
            # Not LiveKit's loss: this host's kernel dropped datagrams at a full socket buffer (a busy 2-core
            # machine), and the row must say so rather than blame the path.
            assert first.row["bound"] == "client" and "kernel dropped" in first.row["bound_reason"], first.row
        r = first if first.row["bound"] == "path" else await path_bound(
            lab, f"{mode} loses nothing on a clean path", mode=mode, size=200, rate=100, duration=3
        )  # fmt: skip
        row = r.row
        assert row["sent"] >= 250, row
        assert (row["received"], row["lost"], row["duplicates"], row["out_of_order"]) == (row["sent"], 0, 0, 0), row
        assert row["latency_p50_ms"] > 0
        assert row["clock"].startswith("monotonic")


async def test_loss_reliable_delivers_everything_in_order(lab: Lab) -> None:
    r = await lab.run(mode="reliable", size=200, rate=200, duration=2, impairment=Impairment(loss=0.1))
    row = r.row
    assert row["relay_dropped_up"] > 0 and row["relay_dropped_down"] > 0, "the relay dropped nothing"
    assert row["received"] == row["sent"] >= 300, row
    assert row["duplicates"] == 0 and row["out_of_order"] == 0, row
    assert row["loss_rate"] == 0.0


async def test_loss_lossy_single_and_multi_datagram_match_theory(lab: Lab) -> None:
    p = 0.1
    # 1500 B = 2 SCTP packets per leg, at 120/s: below the knee. At a few hundred messages/s of multi-packet
    # messages under 10 % loss, SCTP's congestion control (not the relay) stalls now and then, queues build up to
    # ~1 s and extra messages are lost on top of the theory, which covers independent datagram loss only. The lab
    # shows that as the knee; this test checks the theory where it applies (the latency check proves we were there:
    # 100 ms is 10x the ~5-10 ms p50 measured below the knee, and 1/10 of the ~1 s queues above it).
    for size, rate, duration, k in ((200, 250, 4, 1), (1500, 120, 5, 2)):
        row = (await path_bound(lab, f"lossy k={k} matches theory", mode="lossy", size=size, rate=rate,
                                duration=duration, impairment=Impairment(loss=p))).row  # fmt: skip
        n = row["sent"]
        # n >= 0.9 x rate x duration: the pacing kept up, so n is what the 4-sigma bounds below were sized for (a
        # slower try measures as many messages: half the rate for twice as long)
        assert n >= 0.9 * rate * duration, row
        k_up, k_down, four_sd = measured_k(dict(row))
        assert four_sd < 0.5, (size, four_sd)  # n is large enough to tell k from k +- 1
        assert abs(k_up - k) < 0.5 and abs(k_down - k) < 0.5, (size, k_up, k_down)
        assert (row["datagrams_up"], row["datagrams_down"]) == (k, k), row  # the lab's computed k is the counted k
        for leg in ("up", "down"):
            seen = row[f"relay_data_datagrams_{leg}"]
            p_leg = row[f"leg_loss_{leg}"]
            assert abs(p_leg - p) <= tolerance(p, seen), (leg, p_leg, seen)
        q = row["expected_loss_measured"]
        assert abs(row["loss_rate"] - q) <= tolerance(q, n), (size, row["loss_rate"], q, tolerance(q, n))
        check_setting_formula(row, p, k)
        if k == 1:
            # conservation: every message the relay's drops cost is lost (none arrives anyway), and the losses
            # the relay does not explain are few. Measured at 250/s, 1,000 messages: equal in 5 of 7 runs; the
            # others lost 4 more (with 2 and 8 messages that the relay did not see leave the sender). Not exact
            # yet: where those few go (the sender's SCTP, the server, the drain) is unknown (issue 20, report).
            assert 0 < row["relay_lost_deliveries"] <= row["lost"], brief(row)
            assert row["lost"] - row["relay_lost_deliveries"] <= 0.01 * row["sent"], brief(row)
        if k == 2:
            assert row["latency_p50_ms"] < 100, row


def check_setting_formula(row: Any, p: float, k: int) -> None:
    """The measured loss against 1 - (1 - p)^(2k) from the loss *setting* alone, unconditionally, within
    CHECK_SIGMA binomial standard deviations over the messages sent."""
    q = 1 - (1 - p) ** (2 * k)
    assert row["expected_loss"] == pytest.approx(q), row  # the lab's own theory column is this formula
    n = row["sent"] * row["receivers"]
    assert abs(row["loss_rate"] - q) <= tolerance(q, n), (k, row["loss_rate"], q, tolerance(q, n))


async def test_loss_lossy_single_datagram_messages_conserve_exactly(lab: Lab) -> None:
    # k = 1 with the receivers' leg impaired: every message the relay carried to the receiver and did not drop
    # arrived, and nothing else is missing. With both legs impaired the sender's dcSCTP occasionally sends fewer
    # datagrams than messages under loss (2-8 of 1,000 not seen leaving it in 2 of 7 runs), which the relay cannot
    # attribute; on this leg the server's packets are counted whole (measured: exact in 11 of 11 runs at 100-250/s).
    p = 0.1
    row = (await path_bound(lab, "lossy k=1 conserves", mode="lossy", size=200, rate=250, duration=4,
                            impairment=Impairment(loss=p, loss_direction="down"))).row  # fmt: skip
    assert row["sent"] >= 0.9 * 250 * 4 and (row["datagrams_up"], row["datagrams_down"], row["legs"]) == (1, 1, 1), row
    assert row["relay_dropped_up"] == 0 < row["relay_data_dropped_down"], row
    assert row["relay_messages_down"] == row["sent"], brief(row)  # a lossless up leg: the server forwarded all
    assert row["received"] == row["relay_messages_down"] - row["relay_lost_deliveries"], brief(row)
    assert row["lost"] == row["relay_lost_deliveries"] > 0, brief(row)


async def test_loss_lossy_three_datagram_messages_conserve(lab: Lab) -> None:
    # k = 3: a lossy message is sent once as three SCTP packets, and lost iff any of its datagrams is dropped on
    # either leg. The server cuts each message into two full packets and a shorter last one, so the relay counts the
    # messages on the receivers' leg and names the message each drop hit (`lk_notebook.lab.droplog`). The sender's
    # SDK cuts unevenly when its congestion window is short (measured: 885-917 datagrams for 300 messages), so the
    # exact count impairs the receivers' leg only; the setting's formula is then checked with both legs impaired.
    p, k = 0.1, 3
    identity = lab.rig.sender_identity
    # 64 B under three full packets on each leg: the server's re-stamped packet (measured 31 B larger) still takes
    # three, with a last one clearly shorter than a full one
    size = max(s for s in range(2000, 4000)
               if datagrams_per_message(s + 64, Mode.LOSSY, identity=identity) == (k, k))  # fmt: skip
    row = (await path_bound(lab, "lossy k=3 conserves", mode="lossy", size=size, rate=60, duration=5,
                            impairment=Impairment(loss=p, loss_direction="down"))).row  # fmt: skip
    assert row["sent"] >= 0.9 * 60 * 5 and (row["datagrams_up"], row["datagrams_down"], row["legs"]) == (k, k, 1), row
    assert row["relay_dropped_up"] == 0 < row["relay_data_dropped_down"], row
    # conservation on the impaired leg: of the messages the relay carried to the receiver, exactly those it dropped
    # a datagram of are missing
    assert row["received"] == row["relay_messages_down"] - row["relay_lost_deliveries"], brief(row)
    assert row["relay_lost_deliveries"] > 0, row
    q1 = 1 - (1 - p) ** k  # one impaired leg
    assert row["expected_loss"] == pytest.approx(q1)
    assert abs(row["loss_rate"] - q1) <= tolerance(q1, row["sent"]), (row["loss_rate"], q1, row)
    both = (await path_bound(lab, "lossy k=3 matches 1-(1-p)^(2k)", mode="lossy", size=size, rate=60, duration=5,
                             impairment=Impairment(loss=p))).row  # fmt: skip
    check_setting_formula(both, p, k)


async def test_delay_shows_in_latency(lab: Lab) -> None:
    delay = 40.0
    base = await lab.run(mode="lossy", size=200, rate=100, duration=1.5)
    slow = await lab.run(mode="lossy", size=200, rate=100, duration=1.5, impairment=Impairment(delay_ms=delay))
    fastest, typical = slow.stats.latency.min_ns / 1e6, base.row["latency_p50_ms"]
    # Two legs (sender -> server, server -> receiver), each held `delay` from the relay's read: no probe can be
    # faster than 2 x delay. (A relay that timed a whole wake-up from one clock read let one through in 75.9 ms.)
    assert fastest >= 2 * delay, (fastest, slow.row)
    # And the relay adds no more than asked: the fastest delayed probe took at most an unimpaired probe's typical
    # time plus 2 x delay, plus the relay thread's two wake-ups, each waiting at most one GIL switch interval
    # (measured: 80.2-80.7 ms above the unimpaired minimum; minima, unlike medians, hardly move under load).
    relay_wakeups_ms = 2 * 1000 * sys.getswitchinterval()
    assert fastest - 2 * delay <= typical + relay_wakeups_ms, (fastest, typical, relay_wakeups_ms)
    # lossy, but no loss set: nothing lost. A client-bound row (this host's kernel dropped datagrams, say) is
    # measured again at lower rates until the claim can be checked.
    if slow.row["bound"] == "client":
        slow = await path_bound(lab, "a delayed lossy path loses nothing", mode="lossy", size=200, rate=50,
                                duration=3, impairment=Impairment(delay_ms=delay))  # fmt: skip
    assert slow.row["lost"] == 0, slow.row


def frames_left(row: Any) -> int:
    """Data-track frames the relay saw leave the sender (bundled frames counted by size: `wire_ratio`)."""
    left: float = row["wire_ratio"] * row["sent"]
    return round(left)


def count_slack(row: Any) -> int:
    """How far `frames_left` may differ from `received` + `server_dropped_frames`, from the row's own evidence: one
    frame for each datagram the sender's SCTP split a frame across (counting by size is exact without them), and
    this host's kernel drops."""
    split: int = row["relay_split_datagrams_up"]
    return split + (row["host_udp_drops"] or 0)


async def test_data_track_mode_runs(lab: Lab) -> None:
    r = await lab.run(mode="data_track", size=200, rate=100, duration=1)
    row = r.row
    assert row["mode"] == "data_track" and row["sent"] >= 90
    # The clean loopback path delivers what it is given: every frame that left the sender arrives, or the server
    # says it dropped it (its buffer towards the receiver passed 8 KiB: a stalled process on a busy host).
    # (This host's kernel drops, between the server and the receiver, are the only other place a frame can go.)
    assert abs(frames_left(row) - (row["received"] + row["server_dropped_frames"])) <= count_slack(row), brief(row)
    # End to end, >= 98 % too. The sending SDK drops frames before the wire when its transport task lags (measured
    # 96 of 100 at load ~12 on 2 cores; see notebook 06); then wire_ratio < 0.98 or a starved event loop make the
    # row "client"-bound, and the claim is measured again at lower rates.
    if row["bound"] == "client":
        row = (await path_bound(lab, "data tracks deliver >= 98 %", mode="data_track", size=200, rate=50,
                                duration=2)).row  # fmt: skip
    assert row["received"] >= 0.98 * row["sent"], row


async def test_the_server_drops_data_track_frames_past_its_target_latency_and_logs_each(lab: Lab) -> None:
    # LiveKit's data-track trade-off, end to end: the server drops a frame for a subscriber whose buffer already
    # holds more than 100 ms of the recent bitrate (and over 8 KiB), rather than delay newer frames, and logs each
    # one. The buffer counts bytes not yet acknowledged, so a path whose round trip passes 100 ms makes it drop.
    # Through the relay, 150 ms each way (300 ms round trips), frames of 1,000 B, measured here beside a CPU burner:
    # the server dropped 70-90 % of the frames that left the sender at 400 frames/s (3 runs, 189-587 of 800 left),
    # 69 % at 100/s and 47 % at 50/s; 20 ms each way, 0-9 % (200 B frames: none). Frames of 1,000 B keep the bytes
    # in flight over the 8 KiB floor however few frames a busy host's sending SDK lets out: with 200 B, CI runs whose
    # sender skipped half or more saw the share fall to 20 % (100 ms each way) and 8.5 % (150 ms). Conservation,
    # from three independent counts: the frames the relay saw leave the sender are the frames received plus the
    # frames the server logged (plus, if any, the datagrams this host's kernel dropped between them).
    # With frames of 1,000 B, CI runs had frames that left the sender by the relay's count yet neither arrived nor
    # were logged (15 of 518, 10 of 582), and a run failed this test (its detail lost). Measured since: the size-based
    # count, not LiveKit. Rows that balanced exactly carried only frame-sized datagrams; the others, in a new
    # track's first rows, also carried 200-900 B and 1,2xx B datagrams: the sender's SCTP filling a packet with
    # part of the next frame. So both paths are held to the row's own evidence, one frame per split datagram
    # (`count_slack`), and balance exactly when there is none.
    rows = []
    for delay, size in ((150.0, 1000), (20.0, 200)):
        row = (await lab.run(mode="data_track", size=size, rate=400, duration=2,
                             impairment=Impairment(delay_ms=delay))).row  # fmt: skip
        residual = frames_left(row) - (row["received"] + row["server_dropped_frames"])
        assert abs(residual) <= count_slack(row), (delay, residual, brief(row))
        rows.append(row)
    far = rows[0]
    # 10 %: under a quarter of the lowest share measured (47 %, with only 50 frames/s leaving the sender)
    assert far["server_dropped_frames"] >= 0.1 * frames_left(far), brief(far)


async def test_path_check_fails_when_traffic_bypasses_the_relay(lab: Lab, relay_server: LocalServer) -> None:
    # A relay on a layout the sessions do not use: the RTC stats show another remote address.
    assert lab.relay is not None and lab.sender is not None
    wrong = ImpairmentRelay(RelayLayout(advertised=("127.0.0.3", relay_server.udp_port), upstream=("127.0.0.1", 9)))
    with pytest.raises(PathError, match="bypasses the relay"):
        await check_path(lab.sender, wrong)
    real = lab.relay
    lab.rig.relay = wrong
    try:
        before = real.stats().received[0]
        with pytest.raises(PathError, match="bypasses the relay"):
            await lab.run(mode="lossy", size=200, rate=100, count=50, impairment=Impairment(loss=0.1))
    finally:
        lab.rig.relay = real
    # the refused run sent no probes (warm-up probes only: a handful of datagrams)
    assert real.stats().received[0] - before < 40


async def test_plain_server_path_check_fails(credentials: Credentials, room_name: str) -> None:
    # The test server of conftest is not in relay layout: its ICE pair ends at 127.0.0.1, never the relay.
    session = await join(room_name, identity="direct", url=credentials.url, api_key=credentials.api_key,
                         api_secret=credentials.api_secret)  # fmt: skip
    try:
        relay = ImpairmentRelay(RelayLayout(advertised=("127.0.0.2", 9), upstream=("127.0.0.1", 9)))
        with pytest.raises(PathError, match="bypasses the relay"):
            await check_path(session, relay)
    finally:
        await session.leave()


async def test_impairment_against_remote_server_is_refused_before_joining(credentials: Credentials) -> None:
    lab = Lab(url=credentials.url, api_key=credentials.api_key, api_secret=credentials.api_secret)
    with pytest.raises(
        LabError, match=r"not started by the lab\), which cannot be impaired\. Pass `server=lk_notebook\.LocalServer"
    ):
        await lab.run(mode="lossy", size=200, rate=100, duration=1, impairment=Impairment(loss=0.1))
    assert lab.sender is None  # nothing joined, nothing sent
    with pytest.raises(
        LabError, match=r"not started by the lab\), which cannot be impaired\. Pass `server=lk_notebook\.LocalServer"
    ):
        await measure(modes="lossy", sizes=200, rates=100, impairments=Impairment(delay_ms=5), duration=1, lab=lab,
                      progress=False)  # fmt: skip
    assert lab.sender is None
    assert os.environ.get("LIVEKIT_URL")  # conftest's server: Lab() would measure it unimpaired


async def test_sweep_accumulates_rows_and_exports(lab: Lab, tmp_path: object) -> None:
    from pathlib import Path

    res = await measure(modes=["lossy", "reliable"], sizes=[200, 1200], rates=[200],
                        impairments=[None, Impairment(loss=0.05)], duration=0.5, lab=lab, progress=False)  # fmt: skip
    frame = res.frame
    assert len(frame) == 8
    assert set(frame["mode"]) == {"lossy", "reliable"}
    out = Path(str(tmp_path))
    import json

    rows = json.loads(res.to_json(out / "s.json").read_text())
    assert len(rows) == 8
    for key in ("mode", "size", "rate", "loss_setting", "delay_setting", "sent", "received", "loss_rate",
                "duplicates", "out_of_order", "throughput_msgs_s", "throughput_bytes_s", "latency_p50_ms",
                "latency_p95_ms", "latency_p99_ms"):  # fmt: skip
        assert key in rows[0]
    assert res.to_csv(out / "s.csv").read_text().startswith("run_id,mode,size")
    assert not res.series.empty


async def test_state_propagation_and_late_joiner(lab: Lab) -> None:
    from lk_notebook.lab.state_lab import measure_state

    frame = await measure_state(lab, repeats=10)
    rows = {r["channel"]: r for r in frame.to_dict("records")}
    assert set(rows) == {"attributes", "metadata", "room_metadata", "data"}
    for channel, row in rows.items():
        assert row["timeouts"] == 0, row
        # p50 over 10 changes, measured on this 2-core machine: 1.3-5.4 ms per channel at load ~9, but 4-21 ms at
        # load ~12 (state crosses the server's signalling goroutines and a WebSocket: more scheduling than data).
        # 100 ms (1/30 of the server's 3 s batch interval) is only a sanity bound for any host; the claim that a
        # state change waits for no server timer or batch is the ratio to the data row measured in the same run:
        # 1.35-2.4x measured (docs/measurements.md), >= 25x if it waited for the 100 ms or 3 s timers (see
        # tests/claims.py for the derivation of the factor).
        assert 0 < row["latency_p50_ms"] < 100, row
        assert row["latency_p50_ms"] <= STATE_VS_MESSAGE_P50 * rows["data"]["latency_p50_ms"], rows
        # state is there for whoever joins later; a message is gone once sent
        assert row["reaches_late_joiner"] is (channel != "data"), row


async def test_lab_widget_runs_with_live_plot(lab: Lab) -> None:
    from lk_notebook.widgets.lab import LabWidget

    widget = LabWidget(lab=lab, hz=4)
    widget.modes.value = ("lossy", "reliable")
    widget.sizes.value = "200"
    widget.rate.value = "200"
    widget.duration.value = 1.5
    widget.loss.value = 0.05
    try:
        results = await widget.run()
        assert len(results.frame) == 2
        assert "loss_rate" in widget.summary.value
        assert bytes(widget.loss_plot.value).startswith(b"\x89PNG")
        # >= 2 live updates per second of measuring (two runs of 1.5 s)
        assert widget.live.renders >= 2 * 2 * 1.5 - 1, widget.live.renders
        assert widget.live.chart is not None and set(widget.live.chart.series) == {"lossy", "reliable"}
        assert widget.live.figure.axes[0].lines  # the same data as a matplotlib Figure
        widget.sizes.value = "not-a-size"
        widget.start()
        assert "sizes must be" in widget.error.value
    finally:
        await widget.aclose()


def test_plots_return_figures(tmp_path: object) -> None:
    from pathlib import Path

    from matplotlib.figure import Figure

    from lk_notebook.lab.packets import RunResult
    from lk_notebook.lab.plots import knee, latency_cdf, loss_vs_size, save_all, throughput_over_time
    from lk_notebook.lab.stats import ReceiverStats
    from lk_notebook.lab.sweep import Results

    runs = []
    for mode, size, rate, loss in [
        ("lossy", 200, 100.0, 0.1),
        ("lossy", 3000, 100.0, 0.1),
        ("reliable", 200, 300.0, 0),
    ]:
        stats = ReceiverStats(t0_ns=0)
        for i in range(50):
            stats.record(size, i, 5_000_000 + i * 10_000, i * 20_000_000)
        row = {"run_id": f"{len(runs)}", "mode": mode, "size": size, "rate": rate, "impairment": f"loss={loss}",
               "loss_setting": loss, "legs": 2, "loss_rate": 0.2, "offered_msgs_s": rate, "latency_p50_ms": 5.0,
               "latency_p99_ms": 6.0}  # fmt: skip
        runs.append(RunResult(row=row, series=stats.bins.series(), bin_width=0.1, stats=stats))
    res = Results(runs=runs)
    for fig in (loss_vs_size(res.frame), latency_cdf(res.runs), knee(res.frame), throughput_over_time(res.series)):
        assert isinstance(fig, Figure)
    paths = save_all(res, str(tmp_path))
    assert sorted(paths) == ["knee", "latency_cdf", "loss_vs_size", "throughput"]
    assert all(Path(p).read_bytes().startswith(b"\x89PNG") for p in paths.values())


async def test_foreign_messages_on_the_topic_are_ignored(lab: Lab) -> None:
    from lk_notebook.lab import TOPIC

    assert lab.sender is not None
    before = lab.foreign
    await lab.sender.room.local_participant.publish_data(b"not a probe", reliable=True, topic=TOPIC)
    r = await lab.run(mode="reliable", size=100, rate=100, count=50)
    assert r.row["received"] == r.row["sent"] == 50
    assert lab.foreign > before


async def test_sweep_is_cancellable_and_keeps_measured_rows(lab: Lab) -> None:
    import asyncio

    from lk_notebook.lab.sweep import Sweep, _NoProgress, sweep_plan

    plan = sweep_plan(modes=["lossy"], sizes=[200], rates=[100, 150, 200, 250], impairments=None)
    first = asyncio.Event()
    sweep = Sweep(lab, plan, duration=0.5, count=None, progress=_NoProgress(), on_sample=None,
                  on_result=lambda _: first.set())  # fmt: skip
    sweep.start()
    await asyncio.wait_for(first.wait(), 30)
    sweep.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sweep
    assert sweep.results.cancelled
    assert 1 <= len(sweep.results.frame) < 4


async def test_presence_rows_in_measure_state(lab: Lab) -> None:
    from lk_notebook.lab.state_lab import measure_state

    frame = await measure_state(lab, channels=("data",), repeats=1, presence=1)
    rows = {r["channel"]: r for r in frame.to_dict("records")}
    assert set(rows) == {"data", "join:data_only", "join:publisher", "leave:data_only", "leave:publisher"}
    assert all(rows[c]["timeouts"] == 0 for c in rows), rows
    # the server batches data-only joins every 3 s, and the lab joins right after a batch: measured 2.47-2.79 s
    # (9 joins); > 1 s leaves room for a join that takes 1.5 s, below 3 s + 0.5 s of join and event delivery
    assert 1_000 < rows["join:data_only"]["latency_p50_ms"] < 3_500, rows["join:data_only"]
    # a track publisher is announced with its track: measured 32-69 ms; 1 s is > 10x that and < the batch
    assert rows["join:publisher"]["latency_p50_ms"] < 1_000, rows["join:publisher"]


async def test_fan_out_and_fan_in() -> None:
    # Its own server and room: extra receivers would also get (and the relay count) every probe of the other tests'
    # runs, and one server has room for one relay. No relay needed: nothing is impaired here.
    plain = LocalServer().start()
    try:
        await _fan_out_and_fan_in(plain)
    finally:
        plain.stop()


async def _fan_out_and_fan_in(server: LocalServer) -> None:
    async with Lab(server=server) as fan:
        out = await fan.run(mode="reliable", size=200, rate=50, duration=1, receivers=3)
        row = out.row
        assert (row["senders"], row["receivers"], len(out.per_receiver)) == (1, 3, 3), row
        assert row["sent"] >= 45 and row["received"] == 3 * row["sent"], row  # reliable: every delivery
        assert {p["identity"] for p in out.per_receiver} == {r.identity for r in fan.receivers}
        assert all(p["received"] == p["sent"] == row["sent"] for p in out.per_receiver), out.per_receiver
        fin = await fan.run(mode="reliable", size=200, rate=50, duration=1, senders=3)
        senders = [p for p in fin.per_receiver if p["role"] == "sender"]
        assert len(senders) == 3 and fin.row["sent"] == sum(p["sent"] for p in senders) >= 135, fin.per_receiver
        assert fin.row["received"] == fin.row["sent"] and fin.row["out_of_order"] == 0, fin.row


async def test_many_receivers_in_one_process_are_client_bound() -> None:
    # Issue 20: 49 receivers in one process said bound=path while their deliveries queued in the process. The
    # verdict now weighs the receiving side: the same light run stays clear of it, a saturating one does not.
    from lk_notebook.lab.calibration import LOOP_LAG_MAX_MS, RECEIVER_CPU_MAX

    # the receivers' evidence as the row words it (calibration.classify): the loop's lag, the process's CPU
    receiving = ("the receivers' event loop", "the receiving process")
    plain = LocalServer().start()
    try:
        async with Lab(server=plain) as fan:
            light = (await fan.run(mode="reliable", size=200, rate=10, duration=1.5, receivers=3)).row
            assert light["receiver_cpu"] < RECEIVER_CPU_MAX, light
            assert not any(r in light["bound_reason"] for r in receiving), light  # the receivers' evidence is quiet
            # 20 receivers x 150/s = 3,000 deliveries/s, several times what one process handles (~500-800/s)
            heavy = (await fan.run(mode="reliable", size=200, rate=150, duration=2, receivers=20)).row
            assert heavy["bound"] == "client", heavy
            evidence = {k: heavy[k] for k in ("receiver_cpu", "host_cpu", "receiver_loop_lag_p99_ms", "latency_p50_ms",
                                              "bound_reason")}  # fmt: skip
            fired = heavy["receiver_cpu"] >= RECEIVER_CPU_MAX or (
                heavy["receiver_loop_lag_p99_ms"] > LOOP_LAG_MAX_MS and heavy["latency_p50_ms"] > LOOP_LAG_MAX_MS
            )
            if not fired and heavy["host_cpu"] >= HOST_CPU_FULL:
                # No idle CPU on the host (CI beside a CPU-bound process): the process got its share, not what it
                # needed, so its CPU seconds could not show saturation (0.86 once; 0.91-1.18 measured), and the
                # verdict rests on the sender's evidence in the same process. Shown, not passed over in silence.
                warnings.warn(HostFullWarning(f"many receivers, no idle CPU on the host: {evidence}"), stacklevel=1)
                return
            assert fired, evidence
            assert any(r in heavy["bound_reason"] for r in receiving), evidence  # and the row says why
    finally:
        plain.stop()
