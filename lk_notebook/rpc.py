"""RPC in and out: every call this session makes or answers becomes an `RpcRecord` on the router.

`Session.perform_rpc`, `register_rpc_method`, `unregister_rpc_method`, `on_rpc`, `rpc_calls` and
`rpc_payload_limit` are its `RpcCalls` helper's; `RpcRecorder` records both directions.

The SDK's own interceptor hook (`LocalParticipant.add_rpc_interceptor`) sees both directions, so nothing of the
SDK is replaced. One limit, measured: a call to a method this session never registered is answered "unsupported
method" (1400) by the SDK's native core before any Python code runs, so such attempts cannot be recorded on the
receiving side; the caller's side records them (and `perform_rpc` raises `RpcError` with code 1400).

Example::

    session.register_rpc_method("echo", lambda call: call.payload)
    result = await session.perform_rpc("bob", "echo", "hi")   # result.response, result.latency
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import difflib
import inspect
import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from livekit import rtc

from . import limits
from ._logging import scrub
from .errors import AlreadyRegisteredError, InvalidInputError, RpcError
from .events import RpcRecord
from .own_participant import OwnParticipant
from .routing import Router, RpcCallback, RpcHandler

__all__ = [
    "ANSWER_GRACE_S", "CALL_IDS", "RpcCalls", "RpcRecorder", "absent_destination_message", "answer_grace",
    "wrap_handler",
]  # fmt: skip

APPLICATION_ERROR = 1500
RESPONSE_TIMEOUT = 1502
RECIPIENT_NOT_FOUND = 1401
CALL_IDS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("lk_notebook_rpc_call", default=None)
"""Set by `perform_rpc` around the SDK call: the interceptor (same task) puts the record's id there, so the
caller gets its own call's record even with concurrent calls of the same method."""


class RpcRecorder(rtc.RpcInterceptor):
    """Records each RPC call made or handled; reports a handler's exception to the session's errors."""

    def __init__(self, router: Router, *, identity: str) -> None:
        self.router = router
        self.identity = identity

    def _cut(self, text: str) -> str:
        return text[: self.router.text_limit]

    def _begin(self, method: str, payload: str, *, callee: str | None = None, caller: str | None = None) -> RpcRecord:
        """The pending record of a call this session makes (to `callee`) or answers (from `caller`): this
        session's identity is the other side."""
        record = RpcRecord(
            call_id=self.router.next_call_id(),
            outgoing=caller is None,
            method=method,
            caller=self.identity if caller is None else caller,
            callee=self.identity if callee is None else callee,
            payload=self._cut(payload),
            started_at=time.time(),
        )
        self.router.update_rpc(record)
        return record

    def _end(self, record: RpcRecord, **outcome: Any) -> None:
        self.router.update_rpc(dataclasses.replace(record, finished_at=time.time(), **outcome))

    async def intercept_outgoing(self, call: rtc.RpcCallInfo, next: Any) -> str:
        record = self._begin(call.method, call.payload, callee=call.destination_identity)
        ids = CALL_IDS.get()
        if ids is not None:
            ids.append(record.call_id)
        try:
            response: str = await next(call)
        except BaseException as exc:
            self._end(record, **_failure(exc))
            raise
        self._end(record, response=self._cut(response))
        return response

    async def intercept_incoming(self, invocation: rtc.RpcInvocationData, next: Any) -> str | None:
        record = self._begin(invocation.method, invocation.payload, caller=invocation.caller_identity)
        try:
            response: str | None = await next(invocation)
        except asyncio.CancelledError:
            # The SDK cancels the chain at the caller's deadline (1502) or on disconnect (1503) and says which.
            code = invocation.cancel_reason
            self._end(
                record,
                error_code=int(code) if code is not None else APPLICATION_ERROR,
                error="handler cancelled: " + (code.name.lower() if code is not None else "cancelled"),
            )
            raise
        except HandlerFailed as exc:  # wrap_handler turned the handler's exception into the caller's answer
            self._end(record, error_code=APPLICATION_ERROR, error=exc.message)
            self.router.report(
                f"RPC handler for {invocation.method!r} (called by {invocation.caller_identity!r})", exc.cause
            )
            raise
        except rtc.RpcError as exc:  # the handler answered with an error code of its choice
            self._end(record, **_failure(exc))
            raise
        self._end(record, response=self._cut(response or ""))
        return response


ANSWER_GRACE_S = 0.5
"""How long after an incoming call's handler ended `Session.leave` waits before it disconnects. The SDK hands the
answer to its native layer, which publishes it from its own thread: a disconnect in between lost it, the native core
logged "Failed to publish RPC error response: ... SendError", and the caller got 1503 instead of the answer (CI once
under load; every time when leaving from the RPC callback, tests/test_rpc_leave.py). The cost: a `leave` right
after answering takes up to this much longer."""


def answer_grace(records: Iterable[RpcRecord], now: float) -> float:
    """Seconds to wait before disconnecting so that the answers handlers gave up to `now` get out (0: none recent)."""
    ended = [r.finished_at for r in records if not r.outgoing and r.finished_at is not None]
    return max(0.0, max(ended, default=-math.inf) + ANSWER_GRACE_S - now)


def _failure(exc: BaseException) -> dict[str, Any]:
    """An RPC record's outcome fields for a call that raised `exc`."""
    if isinstance(exc, rtc.RpcError):
        return {"error_code": int(exc.code), "error": exc.message}
    return {"error": repr(exc)}


class HandlerFailed(rtc.RpcError):
    """A user's handler raised `cause`: answered as APPLICATION_ERROR (1500) with `ExceptionType: message`, so the
    caller learns what went wrong. (Raised as a plain exception, the SDK would answer only "Application error in
    method handler" and log a full traceback.)"""

    def __init__(self, cause: Exception) -> None:
        super().__init__(APPLICATION_ERROR, f"{type(cause).__name__}: {cause}"[:_ERROR_MESSAGE_LIMIT])
        self.cause = cause


# The error message travels in the RPC response packet; keep it well inside LiveKit's 15 KiB.
_ERROR_MESSAGE_LIMIT = 1_000


def encode_response(method: str, result: object) -> str:
    """A handler's return value as the response: None answers "", a str as is, a dict/list as compact JSON (as
    `publish` sends them); anything else is a TypeError."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, dict | list):
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False)
    raise TypeError(
        f"RPC handler for {method!r} returned {type(result).__name__}; return a str, a dict or a list (sent as JSON)"
    )


def wrap_handler(method: str, handler: RpcHandler) -> RpcHandler:
    """The SDK handler for a user's sync or async `handler(invocation)`: its result encoded by `encode_response`;
    an exception other than `rtc.RpcError` answers 1500 with its message (`HandlerFailed`)."""

    async def call(invocation: rtc.RpcInvocationData) -> str:
        try:
            result = handler(invocation)
            if inspect.isawaitable(result):
                result = await result
            return encode_response(method, result)
        except rtc.RpcError:
            raise
        except Exception as exc:
            raise HandlerFailed(exc) from exc

    return call


def absent_destination_message(destination: str, present: list[str], *, room: str) -> str:
    """Why an RPC to `destination` is refused before sending: who is in the room, and a near match if any."""
    others = sorted(present)
    close = difflib.get_close_matches(destination, others, n=1, cutoff=0.6)
    if not close:  # "Bob" for "bob": difflib's ratio is case-sensitive
        close = [p for p in others if p.lower() == destination.lower()][:1]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    who = ", ".join(map(repr, others)) if others else "nobody else"
    return (
        f"{destination!r} is not in room {room!r} (in the room: {who}).{hint} A peer that joined in the last ~3 s may "
        f"not be announced yet: `await session.wait_for_participant({destination!r})` first."
    )


class RpcCalls:
    """A session's RPC: calls made as its participant (`me`), methods it answers
    (kept on the router, so that a rejoin's new room answers them too: `attach`), and their records.

    Example::

        rpc = RpcCalls(OwnParticipant(lambda: room.local_participant, "ann", "demo", state, router, guard))
        rpc.attach(room.local_participant)
        result = await rpc.perform_rpc("bob", "echo", "hi")
    """

    def __init__(self, me: OwnParticipant) -> None:
        self.me = me
        self.payload_limit = limits.RPC_MAX_PAYLOAD_BYTES
        """Largest RPC payload `perform_rpc` sends (bytes). LiveKit's documented 15 KiB, which every SDK accepts;
        the SDKs measured here accept much more (see limits.py), so raise it when every peer runs a recent SDK."""

    def attach(self, local: rtc.LocalParticipant) -> None:
        """Record a (new) room's RPC and answer the registered methods there."""
        local.add_rpc_interceptor(RpcRecorder(self.me.router, identity=self.me.identity))
        for method, handler in self.me.router.rpc_methods.items():
            local.register_rpc_method(method, wrap_handler(method, handler))  # type: ignore[arg-type]

    async def perform_rpc(
        self, destination: str, method: str, payload: str = "", *, timeout: float = 10.0
    ) -> RpcRecord:
        """Call `method` on participant `destination`; returns the finished record (`response`, `latency`, the
        round trip in seconds). Raises RpcError with LiveKit's code: 1401 at once when `destination` is not in the
        room (the message names who is, and a near match), 1400 unsupported method, 1500 the handler raised (the
        message carries its exception), 1502 no answer within `timeout` (the whole call, connection included);
        TooLargeError over the payload limit."""
        self.me.guard.require_open("perform an RPC")
        body = limits.check_rpc(destination, method, payload, limit=self.payload_limit)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidInputError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if destination not in self.me.state:
            # The SDK would wait for an acknowledgement for 7 s whatever `timeout` says, then answer 1501.
            present = [p.identity for p in self.me.state if p.identity != self.me.identity]
            text = absent_destination_message(destination, present, room=self.me.room_name)
            raise RpcError(
                f"RPC {method!r} to {destination!r} failed: {RECIPIENT_NOT_FOUND} recipient not found: {text}",
                code=RECIPIENT_NOT_FOUND,
                method=method,
                destination=destination,
                sdk_message="",
            )
        ids: list[int] = []
        token = CALL_IDS.set(ids)
        try:
            # The SDK gives the callee `response_timeout - max_round_trip_latency` (measured: timeout=1.5 with a
            # 1.5 s latency budget answered 1502 after 1.0 s) and waits up to 7 s for an ACK first (a call to an
            # absent identity took 7.0 s with timeout=5). So the callee gets exactly `timeout`, and the caller's
            # own deadline is `timeout` too.
            latency_budget = min(float(timeout), 7.0)
            await asyncio.wait_for(
                self.me.local().perform_rpc(
                    destination_identity=destination,
                    method=method,
                    payload=body,
                    response_timeout=float(timeout) + latency_budget,
                    max_round_trip_latency=latency_budget,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            if ids:
                record = self.me.router.rpc_record(ids[0])
                self.me.router.update_rpc(
                    dataclasses.replace(
                        record, finished_at=time.time(), error_code=RESPONSE_TIMEOUT, error="response timeout"
                    )
                )
            raise RpcError(
                f"RPC {method!r} to {destination!r} failed: {RESPONSE_TIMEOUT} no answer within {timeout} s",
                code=RESPONSE_TIMEOUT,
                method=method,
                destination=destination,
                sdk_message="Response timeout",
            ) from None
        except rtc.RpcError as exc:
            raise RpcError(
                f"RPC {method!r} to {destination!r} failed: {exc.code} {scrub(exc.message)}",
                code=int(exc.code),
                method=method,
                destination=destination,
                sdk_message=exc.message,
            ) from exc
        finally:
            CALL_IDS.reset(token)
        return self.me.router.rpc_record(ids[0])

    def register_rpc_method(self, method: str, handler: RpcHandler) -> RpcHandler:
        """Answer calls of `method` with `handler(invocation)` (sync or async; `invocation.payload`,
        `.caller_identity`). Its result is the response: a str as is, a dict or list as compact JSON (as `publish`),
        None as "". An exception reaches the caller as LiveKit's application error (1500) with the exception's type
        and message, and shows in `session.errors` (one log line); raise `rtc.RpcError` to choose the code.
        Registering a method twice: AlreadyRegisteredError. A call to a method this session never registered is
        answered 1400 (unsupported method) by the SDK's native core and nothing reaches Python: no handler, no
        `rpc_calls` record, no `on_rpc` callback on this side (there is no catch-all registration)."""
        self.me.guard.require_open("register an RPC method")
        if not isinstance(method, str) or not method:
            raise InvalidInputError(f"an RPC method name must be a non-empty string, not {method!r}")
        if not callable(handler):
            raise InvalidInputError(f"an RPC handler must be callable, not {type(handler).__name__}")
        if method in self.me.router.rpc_methods:
            raise AlreadyRegisteredError(
                f"RPC method {method!r} is already registered in this session; unregister_rpc_method first.",
                what="RPC method",
                name=method,
            )
        self.me.router.rpc_methods[method] = handler
        self.me.local().register_rpc_method(method, wrap_handler(method, handler))  # type: ignore[arg-type]
        return handler

    def unregister_rpc_method(self, method: str) -> None:
        """Stop answering `method` (callers then get 1400 unsupported method)."""
        if self.me.router.rpc_methods.pop(method, None) is not None:
            self.me.local().unregister_rpc_method(method)

    def on_rpc(self, callback: RpcCallback) -> Callable[[], None]:
        """Call `callback(record)` when an RPC call (made or answered) starts and when it ends. Calls to a method
        this session never registered are not among them: the native core answers those 1400 unseen."""
        return self.me.router.on_rpc(callback)
