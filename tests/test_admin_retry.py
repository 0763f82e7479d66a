"""ServerAPI sends a repeatable request again once when its pooled keep-alive connection was closed by the server.

CI once failed `delete_room` with aiohttp's "Server disconnected": the server had closed an idle keep-alive connection
as the next request went out on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import pytest

import lk_notebook as lk
from lk_notebook import admin as lk_admin
from lk_notebook.admin import stale_connection
from lk_notebook.config import Credentials

from .conftest import eventually

FAKE = Credentials("ws://127.0.0.1:9", "key", "secret")


def flaky(first: BaseException, calls: list[int]) -> Callable[[], Awaitable[str]]:
    """A request factory whose first request fails with `first` and whose later ones answer "ok"."""

    async def request() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise first
        return "ok"

    return request


@pytest.mark.parametrize(
    "error",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"),
        aiohttp.ClientConnectionResetError("Cannot write to closing transport"),
    ],
)
async def test_a_repeatable_request_is_sent_again_once_on_a_stale_connection(error: Exception) -> None:
    calls: list[int] = []
    assert await lk.ServerAPI(FAKE)._call("delete_room", flaky(error, calls), repeatable=True) == "ok"
    assert len(calls) == 2


async def test_send_data_is_not_sent_twice() -> None:
    calls: list[int] = []
    with pytest.raises(lk.AdminError, match=r"^send_data failed: Server disconnected$"):
        await lk.ServerAPI(FAKE)._call("send_data", flaky(aiohttp.ServerDisconnectedError(), calls), repeatable=False)
    assert len(calls) == 1


async def test_a_second_stale_connection_is_reported_as_before() -> None:
    calls: list[int] = []

    async def request() -> str:
        calls.append(1)
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(lk.AdminError, match=r"^delete_room failed: Server disconnected$"):
        await lk.ServerAPI(FAKE)._call("delete_room", request, repeatable=True)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error",
    [
        aiohttp.ClientConnectorError(
            aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None),
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ),
        aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"),
        asyncio.TimeoutError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
    ],
)
async def test_other_failures_are_not_retried(error: Exception) -> None:
    assert not stale_connection(error)
    calls: list[int] = []
    with pytest.raises(lk.AdminError, match=r"^list_rooms failed: "):
        await lk.ServerAPI(FAKE)._call("list_rooms", flaky(error, calls), repeatable=True)
    assert len(calls) == 1


class StaleProxy:
    """A TCP proxy to the real server that forwards the first request of each client connection and closes the
    connection when a second request arrives on it: exactly what the client sees when the server's idle timer closes a
    keep-alive connection as the next request goes out on it, but every time. `answer_delay` holds each answer back.
    """

    def __init__(self, host: str, port: int, answer_delay: float = 0.0) -> None:
        self.upstream = (host, port)
        self.answer_delay = answer_delay
        self.dropped = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        answered = asyncio.Event()

        async def back() -> None:
            while data := await up_reader.read(65536):
                await asyncio.sleep(self.answer_delay)
                writer.write(data)
                await writer.drain()
                answered.set()

        task = asyncio.create_task(back())
        self._tasks.add(task)
        try:
            while data := await reader.read(65536):
                if answered.is_set():  # a second request on this connection: close it as the idle timer would
                    self.dropped += 1
                    # A FIN (a clean close), then read the rest: closing with unread bytes would send a reset.
                    writer.write_eof()
                    while await reader.read(65536):
                        pass
                    break
                up_writer.write(data)
                await up_writer.drain()
        finally:
            task.cancel()
            writer.close()
            up_writer.close()


@contextlib.asynccontextmanager
async def proxied(credentials: Credentials, answer_delay: float = 0.0) -> AsyncIterator[tuple[StaleProxy, Credentials]]:
    parts = urlsplit(credentials.http_url)
    assert parts.hostname is not None and parts.port is not None
    proxy = StaleProxy(parts.hostname, parts.port, answer_delay)
    url = await proxy.start()
    try:
        yield proxy, Credentials(url, credentials.api_key, credentials.api_secret)
    finally:
        await proxy.aclose()


@pytest.fixture
async def stale_proxy(credentials: Credentials) -> AsyncIterator[tuple[StaleProxy, Credentials]]:
    async with proxied(credentials) as proxy_and_credentials:
        yield proxy_and_credentials


async def test_server_api_survives_a_connection_the_server_closed(
    stale_proxy: tuple[StaleProxy, Credentials], room_name: str
) -> None:
    proxy, creds = stale_proxy
    async with lk.ServerAPI(creds) as admin:
        await admin.create_room(room_name)
        # Each call below goes out on the pooled connection of the one before, which the proxy closes: the repeat
        # on a fresh connection is what makes them pass.
        assert [r.name for r in await admin.list_rooms([room_name])] == [room_name]
        room = await admin.update_room_metadata(room_name, '{"n": 1}')
        assert room.metadata == '{"n": 1}'
        assert await admin.list_participants(room_name) == []
        await admin.delete_room(room_name)
        assert proxy.dropped == 4, (proxy.dropped, proxy.connections)
        assert await admin.list_rooms([room_name]) == []
        with pytest.raises(lk.AdminError, match=r"^send_data failed: Server disconnected$"):
            await admin.send_data(room_name, "once")


async def test_closing_lets_a_call_in_flight_have_its_answer(credentials: Credentials, room_name: str) -> None:
    # A session closes its server-API client when the server ends it, and deleting the session's own room ends it
    # while the delete's answer is on its way. CI once saw that call fail with aiohttp's "Session is closed".
    async with proxied(credentials, answer_delay=0.5) as (proxy, creds):
        admin = lk.ServerAPI(creds)
        call = asyncio.create_task(admin.create_room(room_name))
        await eventually(lambda: proxy.connections == 1, what="the request went out")
        started = time.monotonic()
        await admin.aclose()
        assert call.done(), "aclose returned before the call in flight had its answer"
        assert (await call).name == room_name
        assert time.monotonic() - started < lk_admin.CLOSE_GRACE_S
    async with lk.ServerAPI(credentials) as admin:
        await admin.delete_room(room_name)
