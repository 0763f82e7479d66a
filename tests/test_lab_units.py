"""Pure unit tests of the lab: probe format, streaming statistics, theory, parameter validation (no server)."""

from __future__ import annotations

import dataclasses
import math
import random
import socket
from pathlib import Path

import pytest

from lk_notebook.errors import LabError
from lk_notebook.lab import Impairment, LatencyHistogram, Mode, ReceiverStats, SequenceWindow, parse
from lk_notebook.lab.lab import max_size, validate_run
from lk_notebook.lab.probe import CLOCK_ID, HEADER_SIZE, ProbeCodec, new_run_id
from lk_notebook.lab.stats import TimeBins
from lk_notebook.lab.sweep import Results, sweep_plan
from lk_notebook.lab.theory import datagrams_per_message, expected_loss


def test_probe_round_trip_and_padding() -> None:
    run = new_run_id()
    codec = ProbeCodec(run_id=run, mode=Mode.LOSSY, size=300)
    payload = codec.encode(7)
    assert len(payload) == 300
    p = parse(payload)
    assert p is not None
    assert (p.run_id, p.mode, p.seq, p.clock_id, p.size) == (run, Mode.LOSSY, 7, CLOCK_ID, 300)


@pytest.mark.parametrize("foreign", [b"", b"hello", b"LKP1", b"X" * 100, b"LKP1" + bytes([9]) + b"\0" * 60])
def test_parser_ignores_foreign_messages(foreign: bytes) -> None:
    assert parse(foreign) is None


def test_probe_size_below_header_is_refused() -> None:
    with pytest.raises(LabError, match="at least"):
        ProbeCodec(run_id=1, mode=Mode.RELIABLE, size=HEADER_SIZE - 1)


def test_histogram_percentiles_within_one_percent() -> None:
    h = LatencyHistogram()
    rng = random.Random(1)
    values = [int(rng.lognormvariate(math.log(5e6), 0.6)) for _ in range(20_000)]
    for v in values:
        h.record(v)
    values.sort()
    for q in (50, 95, 99):
        exact = values[math.ceil(q / 100 * len(values)) - 1] / 1e6
        assert h.percentile(q) == pytest.approx(exact, rel=0.011)
    assert h.percentile(100) == values[-1] / 1e6
    assert h.max_ns == values[-1]
    xs, ys = h.cdf()
    assert ys[-1] == 1.0 and xs == sorted(xs)


def test_histogram_empty_is_nan() -> None:
    assert math.isnan(LatencyHistogram().percentile(50))


def test_sequence_window_counts_dups_reorder_gaps() -> None:
    w = SequenceWindow(size=8)
    for s in [0, 1, 3, 2, 2, 5, 9, 4]:
        w.add(s)
    assert w.unique == 7  # 0 1 2 3 5 9 4
    assert w.duplicates == 1
    assert w.out_of_order == 2  # 2 after 3, 4 after 9
    assert w.gaps == 3  # 6 7 8
    w.add(100)
    w.add(50)  # older than the window: neither dup nor reorder can be told
    assert w.too_old == 1


def test_sequence_window_wraps_without_false_duplicates() -> None:
    w = SequenceWindow(size=16)
    for s in range(1000):
        w.add(s)
    assert (w.unique, w.duplicates, w.out_of_order) == (1000, 0, 0)


def test_receiver_stats_memory_is_bounded() -> None:
    stats = ReceiverStats(t0_ns=0, bin_width=0.1)
    sizes_before = (len(stats.latency.counts), len(stats.bins.msgs))
    for i in range(200_000):
        stats.record(100, i, 1_000_000 + i % 1000, i * 10_000)
    assert (len(stats.latency.counts), len(stats.bins.msgs)) == sizes_before
    assert stats.seq.unique == 200_000 and stats.received == 200_000


def test_time_bins_series() -> None:
    b = TimeBins(width=0.5, capacity=4)
    b.add(0.1, 10)
    b.add(0.2, 10)
    b.add(1.2, 5)
    assert b.series() == [(0.0, 2, 20), (0.5, 0, 0), (1.0, 1, 5)]
    b.add(10.0, 1)  # far ahead: the ring keeps only the last 4 bins
    assert [s[1] for s in b.series()] == [0, 0, 0, 1]


def test_theory() -> None:
    assert datagrams_per_message(200, Mode.LOSSY) == (1, 1)
    assert datagrams_per_message(3000, Mode.LOSSY) == (3, 3)
    assert expected_loss(0.1, 200, Mode.LOSSY) == pytest.approx(1 - 0.9**2)
    assert expected_loss(0.1, 3000, Mode.LOSSY) == pytest.approx(1 - 0.9**6)
    assert expected_loss(0.1, 3000, Mode.RELIABLE) == 0.0
    assert expected_loss(0.1, 200, Mode.LOSSY, legs=1) == pytest.approx(0.1)
    # data tracks: frames split into <= 16000-byte packets, each one SCTP message fragmented like any other
    assert datagrams_per_message(200, Mode.DATA_TRACK) == (1, 1)
    assert datagrams_per_message(40_000, Mode.DATA_TRACK)[0] == 14 + 14 + 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 70_000}, "over the lossy limit"),
        ({"size": 10}, "below the probe header"),
        ({"rate": 0}, "rate must be a positive"),
        ({"rate": -5}, "rate must be a positive"),
        ({"duration": 0}, "duration must be a positive"),
        ({"duration": None, "count": None}, "give a duration"),
        # Issue 22: the error says what to pass instead of calling the server "remote".
        (
            {"impairment": Impairment(loss=0.1)},
            r"cannot be impaired\. Pass `server=lk_notebook\.LocalServer\(relay=True\)`",
        ),
        ({"mode": "carrier-pigeon"}, "unknown mode"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "mode": "lossy", "size": 200, "rate": 100.0, "duration": 1.0, "count": None, "impairment": None,
        "relay_available": False,
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(LabError, match=match):
        validate_run(**args)  # type: ignore[arg-type]


def test_max_size_is_just_under_the_sdk_limit() -> None:
    from lk_notebook import limits

    top = max_size(Mode.RELIABLE, identity="lab-sender-00000000")
    assert limits.packet_size(b"\0" * top, topic="lk_notebook.lab", identity="lab-sender-00000000") <= 64_000
    assert top > 63_000


def test_impairment_validation() -> None:
    with pytest.raises(LabError):
        Impairment(loss=1.0)
    with pytest.raises(LabError):
        Impairment(delay_ms=-1)
    assert Impairment().label() == "none"
    assert Impairment(loss=0.1, delay_ms=20).label() == "loss=0.1,delay=20ms"


def test_sweep_plan_and_empty_results_export(tmp_path: object) -> None:
    plan = sweep_plan(modes=["lossy", "reliable"], sizes=[200, 1200], rates=[100, None], impairments=None)
    assert len(plan) == 8
    # modes back to back under each condition, then in reversed order in the next round (A B, B A)
    two = sweep_plan(modes=["lossy", "reliable"], sizes=[200, 1200], rates=[100], impairments=None, rounds=2)
    assert [(p.mode.value, p.size) for p in two] == [
        ("lossy", 200), ("reliable", 200), ("lossy", 1200), ("reliable", 1200),
        ("reliable", 200), ("lossy", 200), ("reliable", 1200), ("lossy", 1200),
    ]  # fmt: skip
    with pytest.raises(LabError, match="rounds"):
        sweep_plan(modes="lossy", sizes=200, rates=100, impairments=None, rounds=0)
    r = Results()
    assert r.frame.empty and r.json_rows() == []


def test_result_row_schema_names_every_column_once() -> None:
    from lk_notebook.lab.rows import COLUMNS, JSON_FIELDS, SUMMARY_FIELDS, ResultRow

    keys = ResultRow.__required_keys__ | ResultRow.__optional_keys__
    assert set(COLUMNS) == keys and len(COLUMNS) == len(keys), set(COLUMNS) ^ keys
    assert set(JSON_FIELDS) <= set(COLUMNS) and set(SUMMARY_FIELDS) <= set(COLUMNS)


def test_classify_client_vs_path() -> None:
    from lk_notebook.lab.calibration import ClientEvidence, classify

    idle = ClientEvidence(wall_s=3, loop_cpu=0.1, process_cpu=0.3, host_cpu=0.5, loop_lag_p99_ms=2.0)
    assert classify(idle, send_ratio=0.99, held_fraction=0.0)[0] == "path"
    # fell behind the requested rate with nothing holding it back: the client
    bound, why = classify(idle, send_ratio=0.2, held_fraction=0.0)
    assert bound == "client" and "20%" in why
    # fell behind because the reliable in-flight bound held it: the path
    assert classify(idle, send_ratio=0.2, held_fraction=0.8)[0] == "path"
    busy = ClientEvidence(wall_s=3, loop_cpu=0.95, process_cpu=1.4, host_cpu=0.9, loop_lag_p99_ms=2.0)
    assert classify(busy, send_ratio=None, held_fraction=0.0)[0] == "client"
    lagging = ClientEvidence(wall_s=3, loop_cpu=0.3, process_cpu=0.5, host_cpu=1.0, loop_lag_p99_ms=120.0,
                             loop_lag_p90_ms=80.0)  # fmt: skip
    assert classify(lagging, send_ratio=1.0, held_fraction=0.0)[0] == "client"
    # one late tick (a hiccup of the shared host) is not a queue
    hiccup = ClientEvidence(wall_s=3, loop_cpu=0.3, process_cpu=0.5, host_cpu=1.0, loop_lag_p99_ms=120.0,
                            loop_lag_p90_ms=3.0)  # fmt: skip
    assert classify(hiccup, send_ratio=1.0, held_fraction=0.0)[0] == "path"
    # datagrams the kernel discarded here: the host's loss, whatever the loop and the rate looked like
    dropped = ClientEvidence(wall_s=3, loop_cpu=0.1, process_cpu=0.3, host_cpu=0.5, loop_lag_p99_ms=2.0,
                             host_udp_drops=12)  # fmt: skip
    bound, why = classify(dropped, send_ratio=0.99, held_fraction=0.0)
    assert bound == "client" and "dropped 12 UDP datagrams" in why
    assert classify(dataclasses.replace(dropped, host_udp_drops=0), send_ratio=0.99, held_fraction=0.0)[0] == "path"


def test_classify_weighs_the_receiving_side() -> None:
    # The sender offered all it was asked (send_ratio 1.0) and its loop thread was idle: only the receivers'
    # evidence can make the row client-bound (issue 20: 49 receivers at 10/s said "path" with a 355 ms p50).
    from lk_notebook.lab.calibration import LOOP_LAG_MAX_MS, RECEIVER_CPU_MAX, ClientEvidence, classify
    from lk_notebook.lab.columns import evidence_columns

    queued = ClientEvidence(wall_s=3, loop_cpu=0.2, process_cpu=0.7, host_cpu=1.0, loop_lag_p99_ms=191.0,
                            loop_lag_p90_ms=20.0)  # fmt: skip
    bound, why = classify(queued, send_ratio=1.0, held_fraction=0.0, latency_p50_ms=210.0)
    assert bound == "client" and "191 ms late (p99) against a p50 latency of 210 ms" in why, why
    # the same lag with a small p50: one late tick of a shared host, most deliveries did not wait
    assert classify(queued, send_ratio=1.0, held_fraction=0.0, latency_p50_ms=5.0)[0] == "path"
    # a lag small against a large latency: the wait was elsewhere (the path, the server)
    assert classify(queued, send_ratio=1.0, held_fraction=0.0, latency_p50_ms=1000.0)[0] == "path"
    # a lag under the floor is never the receivers' queue, whatever the latency
    calm = dataclasses.replace(queued, loop_lag_p99_ms=LOOP_LAG_MAX_MS)
    assert classify(calm, send_ratio=1.0, held_fraction=0.0, latency_p50_ms=LOOP_LAG_MAX_MS + 1)[0] == "path"
    # the receiving process at its CPU limit
    hot = dataclasses.replace(calm, process_cpu=RECEIVER_CPU_MAX)
    bound, why = classify(hot, send_ratio=1.0, held_fraction=0.0)
    assert bound == "client" and "receiving process used 0.90 CPU seconds per second" in why, why
    assert classify(dataclasses.replace(hot, process_cpu=RECEIVER_CPU_MAX - 0.01), send_ratio=1.0,
                    held_fraction=0.0)[0] == "path"  # fmt: skip
    # the row shows the evidence it weighed
    cols = evidence_columns(queued, send_ratio=1.0, held_by_path_s=0.0, send_s=3.0, latency_p50_ms=210.0)
    assert (cols["bound"], cols["receiver_loop_lag_p99_ms"], cols["receiver_cpu"]) == ("client", 191.0, 0.7)


def test_loss_tolerance_is_check_sigma_binomial_sds() -> None:
    from lk_notebook.lab.theory import CHECK_SIGMA, loss_tolerance

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"within {CHECK_SIGMA:g} binomial standard deviations" in readme  # one number, README and checks
    assert loss_tolerance(0.19, 1000) == pytest.approx(4 * math.sqrt(0.19 * 0.81 / 1000))
    assert loss_tolerance(0.0, 1000) == 0.0 and loss_tolerance(0.5, 0) == math.inf


def test_drop_log_counts_the_messages_its_drops_cost() -> None:
    from lk_notebook.lab.droplog import DOWN, UP, DropLog, lost_deliveries, messages_in_datagram

    # measured on the relay: a 200 B probe alone in 329 B datagrams up (4 bundled: 1225), 369 B down (2: 689, 3: 1009)
    assert [messages_in_datagram(n, 329) for n in (329, 337, 597, 1117, 1225)] == [1, 1, 2, 4, 4]
    assert [messages_in_datagram(n, 369) for n in (369, 689, 1009)] == [1, 2, 3]
    assert messages_in_datagram(289, 329) == 0  # smaller than any probe: no probe in it
    sender, a, b = ("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3)
    log = DropLog(min_size=200)
    full, tail = 1225, 1165
    for i in range(9):  # k = 3: three messages on the sender's leg; the second loses two of its datagrams
        log.see(UP, sender, tail if i % 3 == 2 else full, dropped=i in (3, 5))
    log.see(UP, a, 100, dropped=True)  # a receiver's SACK: not probe-bearing, not numbered
    for i in range(6):  # two surviving messages to receiver a (the first loses its last datagram), two to b
        log.see(DOWN, a, tail if i % 3 == 2 else full, dropped=i == 2)
        log.see(DOWN, b, tail if i % 3 == 2 else full, dropped=False)
    assert log.flows[(UP, sender)].dropped == [(3, full, 1), (5, tail, 1)] and (UP, a) not in log.flows
    assert (log.messages(UP), log.messages(DOWN)) == (3, 4)  # counted by their shorter last datagrams
    # one message lost on the sender's leg (at both receivers), one on a's leg
    assert lost_deliveries(log, k=3, receivers=2) == 2 + 1
    # the server sent a dropped fragment again within the message: four datagrams, one dropped, arrived
    for size, dropped in ((full, True), (full, False), (full, False), (tail, False)):
        log.see(DOWN, b, size, dropped=dropped)
    assert lost_deliveries(log, k=3, receivers=2) == 2 + 1
    log.see(DOWN, b, full, dropped=True)  # ... and a message whose two datagrams of four were dropped: lost
    for size, dropped in ((full, True), (full, False), (tail, False)):
        log.see(DOWN, b, size, dropped=dropped)
    assert lost_deliveries(log, k=3, receivers=2) == 2 + 1 + 1
    # k = 1: every dropped datagram is lost messages, by its size
    log1 = DropLog(min_size=200)
    log1.see(UP, sender, 329, dropped=True)
    for _ in range(3):
        log1.see(DOWN, a, 369, dropped=False)
    log1.see(DOWN, a, 689, dropped=True)
    log1.see(DOWN, a, 150, dropped=True)
    assert lost_deliveries(log1, k=1, receivers=1) == 1 + 2
    assert log1.messages(UP, k=1) == 1 and log1.messages(DOWN, k=1) == 3 + 2
    copy = log1.copy()
    log1.see(UP, sender, 329, dropped=True)
    assert copy.kept == 2 and log1.kept == 3


def test_drop_log_counts_the_datagrams_a_split_message_makes_odd() -> None:
    from lk_notebook.lab.droplog import DOWN, UP, DropLog

    # a 200 B probe alone in 329 B up (a bundle of 2: 597, of 4: 1225; 330 and 326: control chunks, padding)
    sender = ("127.0.0.1", 1)
    log = DropLog(min_size=200)
    for size in (329, 329, 329, 597, 1225, 330, 326):
        log.see(UP, sender, size, dropped=False)
    assert log.split_datagrams(UP) == 0  # whole messages and bundles, to the tolerance
    # a 1,000 B frame in 1,131 B alone; the sender's SCTP put part of the next one after it (1,245 B), and its
    # rest alone (910 B); and a datagram of a message and a half of another bundled after it
    frame = DropLog(min_size=200)
    for size in (1131, 1131, 1131, 1245, 910, 1131 + 1043 + 500):
        frame.see(UP, sender, size, dropped=False)
    frame.see(DOWN, sender, 777, dropped=False)  # the other direction is not counted
    assert frame.split_datagrams(UP) == 3 and frame.split_datagrams(DOWN) == 0
    log.see(UP, sender, 200, dropped=False)  # the rest of a message alone: smaller than one
    log.see(UP, sender, 329 + 150, dropped=False)  # one message and a piece of the next
    assert log.split_datagrams(UP) == 2


async def test_monitor_counts_the_kernels_udp_receive_drops() -> None:
    # A real overflow: a socket with a small receive buffer that nobody reads, sent more than it can hold.
    from lk_notebook.lab.calibration import ClientMonitor, udp_receive_drops

    assert udp_receive_drops() is not None, "this test needs Linux's /proc/net/snmp"
    monitor = ClientMonitor().start()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source,
    ):
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel doubles it, and keeps a minimum
        sink.bind(("127.0.0.1", 0))
        for _ in range(200):
            source.sendto(b"x" * 1000, sink.getsockname())
        evidence = monitor.with_host_drops(await monitor.stop(), {sink.getsockname(): "sink"})
    assert evidence.host_udp_drops is not None and evidence.host_udp_drops >= 150, evidence
    # and they are put at the socket that dropped them (its name first: the most drops)
    assert evidence.udp_drops_where.startswith("sink "), evidence.udp_drops_where
    assert int(evidence.udp_drops_where.split(",")[0].split()[1]) >= 150, evidence.udp_drops_where


def test_drops_by_owner_counts_growth_per_named_socket() -> None:
    from lk_notebook.lab.calibration import drops_by_owner

    before = {("127.0.0.1", 7880): 10, ("127.0.0.2", 7882): 0, ("0.0.0.0", 40000): 5}
    after = {("127.0.0.1", 7880): 50, ("127.0.0.2", 7882): 0, ("0.0.0.0", 40000): 6, ("0.0.0.0", 40001): 2}
    owners = {("127.0.0.1", 7880): "livekit-server", ("127.0.0.2", 7882): "relay"}
    # a socket opened during the run counts from 0; only growth counts
    assert drops_by_owner(before, after, owners) == "livekit-server 40, other 3, relay 0"


def test_theory_from_measured_legs_and_mathis() -> None:
    from lk_notebook.lab.theory import expected_loss_legs, mathis_msgs_s

    assert expected_loss_legs(0.1, 0.1, 200, "lossy") == pytest.approx(expected_loss(0.1, 200, "lossy"))
    assert expected_loss_legs(0.1, 0.0, 200, "lossy") == pytest.approx(0.1)
    assert expected_loss_legs(0.1, 0.05, 1500, "lossy") == pytest.approx(1 - 0.9**2 * 0.95**2)
    assert expected_loss_legs(0.3, 0.3, 200, "reliable") == 0.0
    assert mathis_msgs_s(200, loss=0.0, delay_ms=10) == math.inf
    # 1163 B / 21 ms x 1.22 / sqrt(0.01) = 675,610 B/s: 3,378 messages/s of 200 B
    assert mathis_msgs_s(200, loss=0.01, delay_ms=10) == pytest.approx(1163 / 0.021 * 1.22 / 0.1 / 200)
    # four times the loss halves the ceiling
    assert mathis_msgs_s(200, loss=0.04, delay_ms=10) == pytest.approx(mathis_msgs_s(200, loss=0.01, delay_ms=10) / 2)


def test_relay_counts_bundled_small_messages_by_size() -> None:
    from lk_notebook.lab.relay import RelayStats

    st = RelayStats()
    # 269 B on the wire per 200 B data-track frame: 10 alone (200-299 B), 3 bundles of two (538 B: 500-599 B),
    # 2 of three (807 B: 800-899 B); 5 SACKs below 200 B are not messages
    st.sizes[0][2], st.sizes[0][5], st.sizes[0][8], st.sizes[0][0] = 10, 3, 2, 5
    assert st.datagrams_at_least(0, 200) == 15
    assert st.messages_at_least(0, 200, message_bytes=269) == 10 + 3 * 2 + 2 * 3


def test_smallest_fragment() -> None:
    # Mutation testing (bench/mutation.py) found it unchecked: it decides whether the relay can count a message's
    # datagrams (COUNTABLE_FRAGMENT), so a wrong value silently voids wire_ratio.
    from lk_notebook import limits
    from lk_notebook.lab.theory import CLIENT_SCTP_CHUNK, DATA_TRACK_MTU, SERVER_SCTP_CHUNK, smallest_fragment

    encoded = limits.packet_size(b"\0" * 3316, topic="lk_notebook.lab", identity="lab-sender-00000000")
    assert smallest_fragment(3316, Mode.LOSSY) == encoded - 2 * CLIENT_SCTP_CHUNK  # the last of three packets
    assert smallest_fragment(3 * CLIENT_SCTP_CHUNK - (encoded - 3316), Mode.LOSSY) == CLIENT_SCTP_CHUNK  # all full
    assert DATA_TRACK_MTU == 16_000  # rust-sdks livekit-datatrack TRANSPORT_MTU
    # one full SCTP packet's user bytes each way (the relay sees both in 1225-byte datagrams)
    assert (CLIENT_SCTP_CHUNK, SERVER_SCTP_CHUNK) == (1163, 1172)
    body = DATA_TRACK_MTU - 12  # a data-track packet's payload after its 12-byte header
    assert smallest_fragment(200, Mode.DATA_TRACK) == 212 and smallest_fragment(0, Mode.DATA_TRACK) == 12
    assert smallest_fragment(body, Mode.DATA_TRACK) == DATA_TRACK_MTU % CLIENT_SCTP_CHUNK
    assert smallest_fragment(body + 100, Mode.DATA_TRACK) == 112  # the second packet's 100 bytes + header
    assert datagrams_per_message(0, Mode.DATA_TRACK) == (1, 1)
    assert datagrams_per_message(2 * body, Mode.DATA_TRACK) == (28, 28)


def test_impairer_decides_loss_and_departure_without_sockets() -> None:
    from lk_notebook.lab.impairment import Impairer, Impairment

    a, b = Impairer(seed=3), Impairer(seed=3)
    a.set(Impairment(loss=0.5, loss_direction="down"))
    b.set(Impairment(loss=0.5, loss_direction="down"))
    draws = [a.drops(1) for _ in range(200)]
    assert draws == [b.drops(1) for _ in range(200)]  # seeded: a run's draws repeat
    assert 60 < sum(draws) < 140 and not any(a.drops(0) for _ in range(50))  # only the receivers' leg
    a.set(Impairment(delay_ms=20))
    assert a.departure(0, 1000, now=10.0) == pytest.approx(10.02)
    a.set(Impairment(rate_kbps=8))  # 1 kB/s: a 500 B datagram takes 0.5 s on the link
    assert a.departure(0, 500, now=0.0) == pytest.approx(0.5)
    assert a.departure(0, 500, now=0.0) == pytest.approx(1.0)  # queued behind the first
    assert a.departure(0, 500, now=0.0) == pytest.approx(1.5)  # still within the ~1 s queue
    assert a.departure(0, 500, now=0.0) is None  # the queue holds about one second: tail drop
    assert a.departure(1, 500, now=0.0) == pytest.approx(0.5)  # each direction has its own link
