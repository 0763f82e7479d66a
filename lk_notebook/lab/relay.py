"""A userland UDP relay that injects loss, delay, jitter and a bandwidth cap, without root.

The local server in relay layout (`LocalServer(relay=True)`) advertises 127.0.0.2:U as its only ICE candidate but
listens on 127.0.0.1:U. The relay listens on the advertised address and forwards every client's datagrams to the
server from one upstream socket per client address, answering each client from the advertised socket. It is the
only media path, so an impairment set here applies to every datagram of every participant that goes through it.

Example::

    with ImpairmentRelay(server.relay_layout) as relay:
        session = await lk_notebook.join(...)          # ICE completes through the relay, unimpaired
        relay.set_impairment(Impairment(loss=0.1, delay_ms=20, jitter_ms=5))
        ...
        relay.stats()                                  # datagrams seen, dropped, delayed per direction

Why a thread and not an asyncio protocol on the kernel's loop: the relay's timing must not depend on how busy the
loop is with SDK events (a loop stalled for 5 ms would add 5 ms to every datagram in flight and blur the very
latency being measured), and the relay is socket plumbing, not LiveKit work. One thread with a selector and a
timer heap serves both directions; it holds the GIL only for a few microseconds per datagram.
"""

from __future__ import annotations

import contextlib
import heapq
import selectors
import socket
import threading
import time
from types import TracebackType

from ..errors import LabError
from ..relay_host import check_relay_host
from ..server import RelayLayout
from .droplog import DropLog
from .impairment import NO_IMPAIRMENT, Impairer, Impairment
from .relay_stats import SIZE_BUCKETS as _SIZE_BUCKETS
from .relay_stats import RelayStats

__all__ = ["NO_IMPAIRMENT", "Impairment", "ImpairmentRelay", "RelayStats"]  # Impairment: re-exported

_MAX_DATAGRAM = 65_535
_UP = 0  # client -> server
_DOWN = 1  # server -> client


class ImpairmentRelay:
    """The UDP relay of the relay layout. Thread-safe; start/stop or use as a context manager.

    Example::

        relay = ImpairmentRelay(server.relay_layout).start()
        relay.set_impairment(Impairment(loss=0.05))
        relay.stop()
    """

    def __init__(self, layout: RelayLayout | None, *, seed: int | None = None) -> None:
        if layout is None:
            raise LabError(
                "impairment needs a server in relay layout: LocalServer(relay=True). A remote server (LIVEKIT_URL) "
                "cannot be impaired by the lab."
            )
        self.layout = layout
        self._impairer = Impairer(seed)
        self._stats = RelayStats()
        self._lock = threading.RLock()
        self._listen: socket.socket | None = None
        self._upstreams: dict[tuple[str, int], socket.socket] = {}
        self._client_of: dict[socket.socket, tuple[str, int]] = {}
        self._heap: list[tuple[float, int, int, bytes, socket.socket, tuple[str, int]]] = []
        self._order = 0
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = socket.socketpair()
        self._error: BaseException | None = None
        self._drops: DropLog | None = None

    # -- control ----------------------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return self.layout.advertised

    @property
    def impairment(self) -> Impairment:
        return self._impairer.impairment

    def set_impairment(self, impairment: Impairment) -> None:
        """Apply `impairment` to every datagram from now on (both directions)."""
        with self._lock:
            self._impairer.set(impairment)

    def clear(self) -> None:
        self.set_impairment(NO_IMPAIRMENT)

    def stats(self) -> RelayStats:
        with self._lock:
            return self._stats.copy()

    def record_drops(self, min_size: int) -> DropLog:
        """Number the datagrams of at least `min_size` bytes per flow and log which were dropped, from now until
        `stop_recording()` (which returns the log); `lk_notebook.lab.droplog` counts the messages they cost."""
        with self._lock:
            self._drops = DropLog(min_size)
            return self._drops

    def stop_recording(self) -> DropLog | None:
        with self._lock:
            log, self._drops = self._drops, None
            return log.copy() if log is not None else None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def check(self) -> None:
        """Raise LabError if the relay thread died."""
        if self._error is not None:
            raise LabError(f"the impairment relay failed: {self._error!r}") from self._error
        if self._thread is not None and not self._thread.is_alive():
            raise LabError("the impairment relay stopped")

    def start(self) -> ImpairmentRelay:
        if self.running:
            return self
        check_relay_host(self.layout.advertised[0])  # the fix for an address this machine lacks, not "port in use"
        sock = _listen_socket(self.layout.advertised)
        self._listen = sock
        self._thread = threading.Thread(target=self._run, name="lk_notebook-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(OSError):
            self._stop_w.send(b"x")
        thread.join(timeout=5)
        self._thread = None
        for s in [self._listen, *self._upstreams.values()]:
            if s is not None:
                s.close()
        self._listen = None
        self._upstreams.clear()
        self._client_of.clear()
        self._heap.clear()

    def __enter__(self) -> ImpairmentRelay:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        host, port = self.layout.advertised
        return f"<ImpairmentRelay {host}:{port} {'running' if self.running else 'stopped'} {self.impairment.label()}>"

    # -- the thread -------------------------------------------------------------------------------------------
    def local_addresses(self) -> set[tuple[str, int]]:
        """The addresses of the relay's own sockets: where it listens, and one upstream socket per client."""
        with self._lock:
            socks = [self._listen, *self._upstreams.values()]
        out = set()
        for sock in socks:
            if sock is not None:
                with contextlib.suppress(OSError):
                    out.add(sock.getsockname())
        return out

    def _upstream_for(self, client: tuple[str, int]) -> socket.socket:
        up = self._upstreams.get(client)
        if up is None:
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):
                up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                up.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            # Bound to 127.0.0.1 so the server sees a source address on its own (included) loopback network.
            up.bind(("127.0.0.1", 0))
            up.setblocking(False)
            self._upstreams[client] = up
            self._client_of[up] = client
            with self._lock:
                self._stats.clients += 1
        return up

    def _admit(
        self,
        direction: int,
        data: bytes,
        out: socket.socket,
        dest: tuple[str, int],
        now: float,
        client: tuple[str, int],
    ) -> None:
        st = self._stats
        st.received[direction] += 1
        st.bytes[direction] += len(data)
        bucket = min(len(data) // 100, _SIZE_BUCKETS - 1)
        st.sizes[direction][bucket] += 1
        lost = self._impairer.drops(direction)
        if self._drops is not None:
            self._drops.see(direction, client, len(data), lost)
        if lost:
            st.dropped[direction] += 1
            st.dropped_sizes[direction][bucket] += 1
            return
        at = self._impairer.departure(direction, len(data), now)
        if at is None:
            st.capped[direction] += 1
            return
        if at <= now and not self._heap:
            self._send(direction, out, data, dest)
            return
        self._order += 1
        heapq.heappush(self._heap, (at, self._order, direction, data, out, dest))

    def _send(self, direction: int, out: socket.socket, data: bytes, dest: tuple[str, int]) -> None:
        try:
            out.sendto(data, dest)
        except (BlockingIOError, InterruptedError):
            self._stats.capped[direction] += 1  # the kernel's buffer is full: a real drop, counted as such
            return
        except OSError:
            return  # e.g. ECONNREFUSED from an earlier ICMP: UDP has no connection to lose
        self._stats.forwarded[direction] += 1

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported through check(); a relay must not die silently
            self._error = exc

    def _loop(self) -> None:
        listen = self._listen
        assert listen is not None
        upstream = self.layout.upstream
        stop = self._stop_r
        # epoll, not select(): a room of 50 participants gives the relay ~400 client sockets, and with the SDK's
        # own sockets in the process their numbers pass select()'s 1024 limit (measured: the relay died at ~26).
        sel = selectors.DefaultSelector()
        sel.register(listen, selectors.EVENT_READ)
        sel.register(stop, selectors.EVENT_READ)
        watched: set[socket.socket] = set()
        try:
            self._serve(sel, watched, listen, stop, upstream)
        finally:
            sel.close()

    def _serve(
        self,
        sel: selectors.BaseSelector,
        watched: set[socket.socket],
        listen: socket.socket,
        stop: socket.socket,
        upstream: tuple[str, int],
    ) -> None:
        while True:
            now = time.monotonic()
            timeout = None
            while self._heap and self._heap[0][0] <= now:
                _, _, direction, data, out, dest = heapq.heappop(self._heap)
                with self._lock:
                    self._send(direction, out, data, dest)
            if self._heap:
                timeout = max(0.0, self._heap[0][0] - now)
            for new in self._client_of.keys() - watched:
                sel.register(new, selectors.EVENT_READ)
                watched.add(new)
            ready: list[socket.socket] = [key.fileobj for key, _ in sel.select(timeout)]  # type: ignore[misc]
            if stop in ready:
                return
            for sock in ready:
                # Drain each socket: one wake-up per datagram would cost far more than the datagrams.
                for _ in range(256):
                    try:
                        data, addr = sock.recvfrom(_MAX_DATAGRAM)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # ICMP port unreachable surfaces here on Linux; nothing to forward
                    # Each datagram's own read time: one clock read per wake-up made a datagram that arrived while
                    # this thread waited for the GIL mid-drain leave early (measured: 75.9 ms through two 40 ms
                    # legs). Delay counts from the read, so a late read only ever adds.
                    now = time.monotonic()
                    with self._lock:
                        if sock is listen:
                            self._admit(_UP, data, self._upstream_for(addr), upstream, now, addr)
                        else:
                            client = self._client_of[sock]
                            self._admit(_DOWN, data, listen, client, now, client)


def _listen_socket(address: tuple[str, int]) -> socket.socket:
    """The relay's non-blocking socket on the advertised address, with large buffers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise LabError(
            f"cannot listen on {address[0]}:{address[1]}/udp for the relay: {exc}. Is another relay running for "
            f"this server?"
        ) from exc
    # Bursts of hundreds of datagrams arrive between two wake-ups at high rates; default buffers drop them.
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
    sock.setblocking(False)
    return sock
