"""RPC in and out: every call this session makes or answers becomes an `RpcRecord` on the router.

The SDK's own interceptor hook (`LocalParticipant.add_rpc_interceptor`) sees both directions, so nothing of the
SDK is replaced. One limit, measured: a call to a method this session never registered is answered "unsupported
method" (1400) by the SDK's native core before any Python code runs, so such attempts cannot be recorded on the
receiving side; the caller's side records them (and `perform_rpc` raises `RpcError` with code 1400).

Example::

    recorder = RpcRecorder(router, identity="ann")
    room.local_participant.add_rpc_interceptor(recorder)
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import time
from typing import Any

from livekit import rtc

from .events import RpcRecord
from .routing import Router, RpcHandler

__all__ = ["CALL_IDS", "RpcRecorder", "wrap_handler"]

APPLICATION_ERROR = 1500
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

    async def intercept_outgoing(self, call: rtc.RpcCallInfo, next: Any) -> str:
        record = RpcRecord(
            call_id=self.router.next_call_id(),
            outgoing=True,
            method=call.method,
            caller=self.identity,
            callee=call.destination_identity,
            payload=self._cut(call.payload),
            started_at=time.time(),
        )
        self.router.update_rpc(record)
        ids = CALL_IDS.get()
        if ids is not None:
            ids.append(record.call_id)
        try:
            response: str = await next(call)
        except rtc.RpcError as exc:
            self.router.update_rpc(
                dataclasses.replace(record, error_code=int(exc.code), error=exc.message, finished_at=time.time())
            )
            raise
        except BaseException as exc:
            self.router.update_rpc(dataclasses.replace(record, error=repr(exc), finished_at=time.time()))
            raise
        self.router.update_rpc(dataclasses.replace(record, response=self._cut(response), finished_at=time.time()))
        return response

    async def intercept_incoming(self, invocation: rtc.RpcInvocationData, next: Any) -> str | None:
        record = RpcRecord(
            call_id=self.router.next_call_id(),
            outgoing=False,
            method=invocation.method,
            caller=invocation.caller_identity,
            callee=self.identity,
            payload=self._cut(invocation.payload),
            started_at=time.time(),
        )
        self.router.update_rpc(record)
        try:
            response: str | None = await next(invocation)
        except rtc.RpcError as exc:
            self.router.update_rpc(
                dataclasses.replace(record, error_code=int(exc.code), error=exc.message, finished_at=time.time())
            )
            raise
        except asyncio.CancelledError:
            # The SDK cancels the chain at the caller's deadline (1502) or on disconnect (1503) and says which.
            code = invocation.cancel_reason
            self.router.update_rpc(
                dataclasses.replace(
                    record,
                    error_code=int(code) if code is not None else APPLICATION_ERROR,
                    error="handler cancelled: " + (code.name.lower() if code is not None else "cancelled"),
                    finished_at=time.time(),
                )
            )
            raise
        except Exception as exc:
            # The SDK answers the caller with APPLICATION_ERROR (1500) and would only log it: show it.
            self.router.update_rpc(
                dataclasses.replace(
                    record, error_code=APPLICATION_ERROR, error=f"{type(exc).__name__}: {exc}", finished_at=time.time()
                )
            )
            self.router.report(f"RPC handler for {invocation.method!r} (called by {invocation.caller_identity!r})", exc)
            raise
        self.router.update_rpc(dataclasses.replace(record, response=self._cut(response or ""), finished_at=time.time()))
        return response


def wrap_handler(method: str, handler: RpcHandler) -> RpcHandler:
    """The SDK handler for a user's sync or async `handler(invocation)`: None answers "", a non-str is an error."""

    async def call(invocation: rtc.RpcInvocationData) -> str:
        result = handler(invocation)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return ""
        if not isinstance(result, str):
            raise TypeError(
                f"RPC handler for {method!r} returned {type(result).__name__}; return a str (json.dumps(...) for data)"
            )
        return result

    return call
