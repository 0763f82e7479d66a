"""`AgentsTracker` (`session.agents`): every LiveKit Agents agent in a session's room, as a live `AgentView`.

It taps the session's `StreamReceiver` for `lk.agent.session` byte streams and `lk.transcription` text streams
through `observe` (no handler slot taken: a user may still register their own `lk.transcription` handler), and
follows `RoomState` for attributes and kinds. Participants already in the room when it starts raise no event, so
it reads them at once. Only participants of kind AGENT, or ones that send on `lk.agent.session`, become agents.

Example::

    view = await session.agents.wait_for(timeout=30)     # the first agent, or wait_for("agent-AJ_...")
    session.agents.on_agent(lambda v: print("agent", v.identity))
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import AgentRequestError, AgentSendError, AgentTimeoutError
from ..events import (
    AttributesChanged,
    Event,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantKind,
    Snapshot,
)
from ..state import RoomState
from ..stream_sender import StreamSender
from ..streams import StreamReceiver
from .messages import (
    CHAT_TOPIC,
    SESSION_TOPIC,
    TRANSCRIBED_TRACK_ATTRIBUTE,
    TRANSCRIPTION_FINAL_ATTRIBUTE,
    TRANSCRIPTION_TOPIC,
    ChatMessage,
    SessionResponse,
)
from .model import AgentsModel
from .requests import RequestKind, ResponseBody, build_request, parse_response
from .view import NO_SESSION_CHANNEL, AgentView

__all__ = ["AgentsTracker"]

log = logging.getLogger("lk_notebook")

NO_EVENT_AFTER = 3.0
"""Seconds after a live `lk.agent.state` change without any session event: the agent has no session channel (an
agent with one sends its agent_state_changed event within milliseconds of setting the attribute)."""
_CANDIDATES = (ParticipantKind.STANDARD, ParticipantKind.SIP)
"""The kinds a LiveKit Agents room IO links to by default (the participant whose lk.chat it reads)."""


class AgentsTracker(Mapping[str, AgentView]):
    """Identity -> `AgentView` for the agents in one session's room (see the module docstring)."""

    def __init__(
        self,
        state: RoomState,
        receiver: StreamReceiver,
        *,
        own_identity: str,
        hidden: bool,
        sender: StreamSender | None,
    ) -> None:
        self.state = state
        self.own_identity = own_identity
        self.hidden = hidden
        self.model = AgentsModel()
        self._sender = None if hidden else sender
        self._views: dict[str, AgentView] = {}
        self._on_agent: list[Callable[[AgentView], None]] = []
        self._taps: list[Callable[[str, bytes, float], None]] = []
        self._pending: dict[str, asyncio.Future[SessionResponse]] = {}
        self._buffers: dict[str, bytearray] = {}
        self._sent_texts: set[str] = set()
        self._started = time.time()
        self._stops = [
            receiver.observe(SESSION_TOPIC, _SessionObserver(self)),
            receiver.observe(TRANSCRIPTION_TOPIC, _TranscriptionObserver(self)),
            state.subscribe(self._on_state),
        ]
        for p in state:  # already in the room: no event will tell of them
            self._participant(p)

    # -- Mapping ------------------------------------------------------------------------------------------------
    def __getitem__(self, identity: str) -> AgentView:
        return self._views[identity]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._views))

    def __len__(self) -> int:
        return len(self._views)

    def __repr__(self) -> str:
        return f"<AgentsTracker {sorted(self._views)}>"

    def on_agent(self, callback: Callable[[AgentView], None]) -> Callable[[], None]:
        """Call `callback(view)` when a new agent appears. Returns an unsubscribe function."""
        self._on_agent.append(callback)

        def unsubscribe() -> None:
            if callback in self._on_agent:
                self._on_agent.remove(callback)

        return unsubscribe

    async def wait_for(self, identity: str | None = None, *, timeout: float = 10.0) -> AgentView:
        """The agent `identity` (None: the first agent), waiting up to `timeout` seconds for it to appear.
        TimeoutError (the builtin) names what did not appear."""

        def found() -> AgentView | None:
            if identity is None:
                return next(iter(self._views.values()), None)
            return self._views.get(identity)

        view = found()
        if view is not None:
            return view
        appeared: asyncio.Future[AgentView] = asyncio.get_running_loop().create_future()

        def check(_: AgentView) -> None:
            v = found()
            if v is not None and not appeared.done():
                appeared.set_result(v)

        unsubscribe = self.on_agent(check)
        try:
            return await asyncio.wait_for(appeared, timeout)
        except asyncio.TimeoutError:
            what = f"agent {identity!r}" if identity else "an agent"
            raise TimeoutError(f"{what} did not appear in {self.state.room!r} within {timeout:g} s") from None
        finally:
            unsubscribe()

    def close(self) -> None:
        for stop in self._stops:
            stop()
        for request_id, future in self._pending.items():
            if not future.done():  # the caller gets an error that says why, not a CancelledError it did not cause
                future.set_exception(
                    AgentRequestError("request", request_id, f"the session of {self.own_identity!r} closed first")
                )

    # -- feeding ------------------------------------------------------------------------------------------------
    def view(self, identity: str) -> AgentView:
        """The view of `identity`, made (and announced) when new."""
        view = self._views.get(identity)
        if view is None:
            view = self._views[identity] = AgentView(self, self.model.agent(identity))
            for callback in list(self._on_agent):
                try:
                    callback(view)
                except Exception:
                    log.exception("on_agent callback failed")
        return view

    def _participant(self, p: ParticipantInfo) -> None:
        if p.is_local or (p.kind is not ParticipantKind.AGENT and p.identity not in self._views):
            return
        view = self.view(p.identity)
        before = view.model.attribute_state
        view.model.attributes_changed(p.attributes, at=time.time())
        if view.model.attribute_state != before and before and not view.model.has_session_channel:
            # A live state change: an agent with the session channel says it there too, within milliseconds.
            asyncio.get_running_loop().call_later(NO_EVENT_AFTER, view._no_session_channel)
        view._changed()

    def _on_state(self, event: Event) -> None:
        if isinstance(event, Snapshot):
            for p in event.participants:
                self._participant(p)
        elif isinstance(event, ParticipantJoined | AttributesChanged):
            identity = event.participant.identity if isinstance(event, ParticipantJoined) else event.identity
            current = self.state.get(identity)
            if current is not None:
                self._participant(current)

    def on_session_message(self, callback: Callable[[str, bytes, float], None]) -> Callable[[], None]:
        """Call `callback(identity, data, received_at)` with every whole `lk.agent.session` message, before it is
        decoded (a recorder keeps the bytes: the decoding can then be redone later). Returns an unsubscribe."""
        self._taps.append(callback)

        def unsubscribe() -> None:
            if callback in self._taps:
                self._taps.remove(callback)

        return unsubscribe

    def session_bytes(self, identity: str, data: bytes) -> None:
        received_at = time.time()
        for tap in list(self._taps):
            try:
                tap(identity, data, received_at)
            except Exception:
                log.exception("an lk.agent.session listener failed")
        decoded = self.model.feed_session_bytes(identity, data, received_at=received_at)
        if isinstance(decoded, SessionResponse):
            future = self._pending.get(decoded.request_id)
            if future is not None and not future.done():
                future.set_result(decoded)
        if identity in self.model:
            self.view(identity)._changed()

    def transcription_owner(self, identity: str, attributes: Mapping[str, str]) -> tuple[str, bool] | None:
        """(agent identity, is the user's speech) for a `lk.transcription` stream from `identity`, or None."""
        if identity in self._views:
            return identity, False
        p = self.state.get(identity)
        if p is not None and p.kind is ParticipantKind.AGENT:
            return identity, False
        if attributes.get(TRANSCRIBED_TRACK_ATTRIBUTE) and len(self._views) == 1:
            # An agent transcribing its user: sent with the user's identity. With one agent, it is that one's.
            return next(iter(self._views)), True
        return None

    # -- linking --------------------------------------------------------------------------------------------------
    def _candidates(self) -> list[ParticipantInfo]:
        return [p for p in self.state if not p.is_local and p.kind in _CANDIDATES]

    def joined_after_us_alone(self, agent: str) -> bool:
        """The agent joined after us, when we were the only participant it could link to."""
        me, them = self.state.local, self.state.get(agent)
        if me is None or them is None or me.joined_at is None or them.joined_at is None:
            return False
        early = [p for p in self._candidates() if p.joined_at is None or p.joined_at <= them.joined_at]
        return them.joined_at > me.joined_at and not early

    def earlier_candidate(self, agent: str) -> str | None:
        """Another participant the agent may have linked to instead of us: in the room before us."""
        me = self.state.local
        mine = me.joined_at if me is not None and me.joined_at is not None else self._started
        return next((p.identity for p in self._candidates() if (p.joined_at or 0.0) < mine), None)

    def linked_elsewhere(self, view: AgentView) -> bool:
        """The agent added a user message we never sent while we watched: it reads another participant's lk.chat."""
        return any(
            e.received_at >= self._started
            and isinstance(e.item, ChatMessage)
            and e.item.role == "user"
            and e.item.text not in self._sent_texts
            for e in view.model.conversation
        )

    def not_linked_error(self, view: AgentView, sends: int, *, other: str | None = None) -> AgentSendError:
        who = f" ({other!r}, in the room before you)" if other else ""
        return AgentSendError(
            f"{view.identity!r} reads lk.chat only from the participant it linked to when it started, another one"
            f"{who}; {self.own_identity!r} is not heard ({sends} sends). Chat from that participant's session, "
            f"or use run_input(text), which any participant may send.",
            agent=view.identity,
            reason="not_linked",
        )

    # -- sending ------------------------------------------------------------------------------------------------
    async def send_chat(self, text: str) -> None:
        assert self._sender is not None  # a hidden tracker is refused before this
        self._sent_texts.add(text)
        await self._sender.send_text(text, topic=CHAT_TOPIC)

    async def request(self, view: AgentView, kind: RequestKind, *, text: str = "", timeout: float) -> ResponseBody:
        """One session request to `view`'s agent, answered by its response (matched on request_id)."""
        if self._sender is None:
            raise AgentRequestError(
                kind,
                "",
                f"{self.own_identity!r} inspects the room hidden and publishes nothing, so it cannot ask "
                f"{view.identity!r}: join the room (not inspect) to send session requests.",
            )
        request = build_request(kind, text=text)
        future: asyncio.Future[SessionResponse] = asyncio.get_running_loop().create_future()
        self._pending[request.request_id] = future
        sender = self._sender

        async def ask() -> SessionResponse:
            await sender.send_bytes(request.encode(), topic=SESSION_TOPIC, destinations=[view.identity])
            return await future

        try:
            # `timeout` bounds the whole request, the send included: timed from after the send, an answer that
            # came while a busy loop was still finishing the send was returned past any timeout (measured in CI).
            # The send is one call into the native core, which completes it even when we stop waiting.
            response = await asyncio.wait_for(ask(), timeout)
        except asyncio.TimeoutError:
            if view.has_session_channel is not True:
                view._no_session_channel()
            why = NO_SESSION_CHANNEL if view.has_session_channel is False else "the agent sent no response."
            raise AgentTimeoutError(
                kind,
                request.request_id,
                f"no answer from {view.identity!r} within {timeout:g} s: {why}",
                timeout=timeout,
            ) from None
        finally:
            self._pending.pop(request.request_id, None)
        return parse_response(request, response)


class _SessionObserver:
    """Joins each `lk.agent.session` byte stream's chunks and hands the whole message to the tracker."""

    def __init__(self, tracker: AgentsTracker) -> None:
        self.tracker = tracker

    def opened(self, info: Any, identity: str) -> None:
        self.tracker._buffers[info.stream_id] = bytearray()

    def chunk(self, info: Any, identity: str, chunk: str | bytes) -> None:
        buffer = self.tracker._buffers.get(info.stream_id)
        if buffer is not None and isinstance(chunk, bytes):
            buffer += chunk

    def closed(self, info: Any, identity: str, error: BaseException | None) -> None:
        data = self.tracker._buffers.pop(info.stream_id, None)
        if data is not None:
            # An aborted stream's bytes are partial: decoded, they count as malformed, which is what they are.
            self.tracker.session_bytes(identity, bytes(data))


class _TranscriptionObserver:
    """Feeds `lk.transcription` text streams to the owning agent's model as transcription segments."""

    def __init__(self, tracker: AgentsTracker) -> None:
        self.tracker = tracker
        self._owners: dict[str, str] = {}

    def opened(self, info: Any, identity: str) -> None:
        attributes = dict(info.attributes or {})
        owner = self.tracker.transcription_owner(identity, attributes)
        if owner is None:
            return
        agent, is_user = owner
        self._owners[info.stream_id] = agent
        self.tracker.model.feed_transcription_opened(
            agent, info.stream_id, attributes, opened_at=info.timestamp / 1000, received_at=time.time(),
            role="user" if is_user else "assistant",
        )  # fmt: skip
        self.tracker.view(agent)._changed()

    def chunk(self, info: Any, identity: str, chunk: str | bytes) -> None:
        agent = self._owners.get(info.stream_id)
        if agent is not None and isinstance(chunk, str):
            self.tracker.model.feed_transcription_chunk(agent, info.stream_id, chunk, received_at=time.time())
            self.tracker.view(agent)._changed()

    def closed(self, info: Any, identity: str, error: BaseException | None) -> None:
        agent = self._owners.pop(info.stream_id, None)
        if agent is not None:
            attributes = dict(info.attributes or {})
            if error is not None:  # aborted: whatever arrived is not the final text, whatever the header said
                attributes[TRANSCRIPTION_FINAL_ATTRIBUTE] = "false"
            self.tracker.model.feed_transcription_closed(agent, info.stream_id, attributes, received_at=time.time())
            self.tracker.view(agent)._changed()
