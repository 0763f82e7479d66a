"""`delegate`: a class attribute that is a helper's method, so a facade (Session) keeps its public methods, typed
and documented, without re-writing each signature to forward it.

Example::

    class Session:
        send_text = delegate(StreamSender.send_text, "_sender")   # session.send_text is session._sender.send_text
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, cast, overload

__all__ = ["delegate"]

H = TypeVar("H")
P = ParamSpec("P")
R = TypeVar("R")


class delegate(Generic[H, P, R]):
    """`method` (a function of the helper's class), bound to the instance's attribute `helper` on access."""

    def __init__(self, method: Callable[Concatenate[H, P], R], helper: str) -> None:
        self._method = method
        self._helper = helper
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> delegate[H, P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, obj: object | None, owner: type[Any]) -> delegate[H, P, R] | Callable[P, R]:
        if obj is None:
            return self
        # A bound method of the helper: help(), signatures and tracebacks show the real one.
        return cast(Callable[P, R], types.MethodType(self._method, getattr(obj, self._helper)))
