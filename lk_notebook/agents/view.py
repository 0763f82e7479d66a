"""`AgentView`: one agent in a session's room, live: its pure model, frames, waits, chat and session requests.

Made by the session's `AgentsTracker` (`session.agents`), never by hand. Views (the AgentPanel) read `model`,
`version` and the frames, and `subscribe` to be told of changes.

Example::

    view = await session.agents.wait_for(timeout=30)
    await view.send("what is the weather in Paris?")      # waits until the agent can hear us, resends until heard
    await view.wait_until(lambda v: v.state == "listening" and len(v.conversation_frame()) >= 2, timeout=20)
    view.turns_frame()                                      # per-turn latency on the agent's own clock
    (await view.chat_history()).frame()                     # function calls and outputs included
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ..condition import wait_until_true
from ..errors import AgentRequestError, AgentSendError
from .messages import ChatMessage
from .model import AgentError, AgentModel
from .requests import AgentInfo, ChatHistory, Pong, RequestKind, RtcStats, SessionState, SessionUsage

if TYPE_CHECKING:
    import pandas as pd

    from .tracker import AgentsTracker

__all__ = ["NO_SESSION_CHANNEL", "AgentView", "SendResult"]

log = logging.getLogger("lk_notebook")
R = TypeVar("R")

NO_SESSION_CHANNEL = (
    "this agent sends nothing on lk.agent.session (a LiveKit Agents older than 1.x, or one started without its "
    "session host): its states come from the lk.agent.state attribute, which can skip a short state, and its replies "
    "from lk.transcription; session requests (chat_history, session_state, ...) get no answer."
)
HEARD_WITHIN = 1.0
"""Seconds after one send without the agent's conversation_item_added for it: resend. Measured: an accepted text
shows there within ~100 ms; a text from a participant the agent does not know yet is dropped silently (for
1.1-3.2 s after joining), so silence means dropped."""
NOT_LINKED_AFTER = 6.0
"""Seconds of not being heard after which another participant who was in the room first is taken as the agent's
linked participant (the only one whose lk.chat it reads): longer than the worst late-joiner drop measured."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What `send` took: `sends` attempts, `seconds` from the first send until the agent showed it heard."""

    text: str
    sends: int
    seconds: float


class AgentView:
    """One agent participant, live. See the module docstring; made by `AgentsTracker`."""

    def __init__(self, tracker: AgentsTracker, model: AgentModel) -> None:
        self._tracker = tracker
        self.model = model
        """The pure model (read-only for views)."""
        self._callbacks: list[Callable[[], None]] = []
        self._bumps = 0
        self._no_channel = False
        self._heard = False
        self._notified = -1
        self.last_send: SendResult | None = None
        """What the last successful `send` took."""

    # -- reading ------------------------------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        return self.model.identity

    @property
    def state(self) -> str:
        """listening, thinking, speaking, ... ("" before anything is known)."""
        return self.model.state

    @property
    def user_state(self) -> str:
        return self.model.user_state

    @property
    def version(self) -> int:
        """Increases with every change of the model or of what this view knows (`has_session_channel`, `can_send`)."""
        return self.model.version + self._bumps

    @property
    def has_session_channel(self) -> bool | None:
        """True once a session event arrived; False once the agent showed it has none (a state change seen only
        as an attribute, or a request that timed out); None until then."""
        if self.model.has_session_channel:
            return True
        return False if self._no_channel else None

    @property
    def notice(self) -> str:
        """A sentence for the user when something about this agent limits what can be seen or done, else ""."""
        if self.has_session_channel is False:
            return NO_SESSION_CHANNEL
        if self._tracker.hidden:
            return "seen from a hidden inspector: it publishes nothing, so it cannot chat or send session requests."
        return ""

    @property
    def can_send(self) -> bool:
        """True once the agent has shown it hears this session (it added our text to its conversation), or when it
        must have linked to us (it joined after us and we were the only participant it could link to)."""
        if self._tracker.hidden or self._tracker.linked_elsewhere(self):
            return False
        return self._heard or self._tracker.joined_after_us_alone(self.identity)

    @property
    def errors(self) -> list[AgentError]:
        """Malformed session messages (counted, never fatal) and errors the agent reported."""
        return self.model.errors

    @property
    def malformed(self) -> int:
        return self.model.malformed

    def conversation_frame(self) -> pd.DataFrame:
        return self.model.conversation_frame()

    def states_frame(self) -> pd.DataFrame:
        return self.model.states_frame()

    def tool_calls_frame(self) -> pd.DataFrame:
        return self.model.tool_calls_frame()

    def usage_frame(self) -> pd.DataFrame:
        return self.model.usage_frame()

    def turns_frame(self) -> pd.DataFrame:
        return self.model.turns_frame()

    def errors_frame(self) -> pd.DataFrame:
        return self.model.errors_frame()

    def __repr__(self) -> str:
        channel = {True: "session channel", False: "no session channel", None: "session channel unknown"}
        return (
            f"<AgentView {self.identity!r} {self.state or 'unknown'}, {len(self.model.conversation)} items, "
            f"{channel[self.has_session_channel]}{', can send' if self.can_send else ''}>"
        )

    # -- changes ------------------------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` after each change (keep it quick: mark a view dirty). Returns an unsubscribe function."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def _bump(self) -> None:
        self._bumps += 1
        self._changed()

    def _changed(self) -> None:
        """Tell subscribers, once per new version."""
        if self.version == self._notified:
            return
        self._notified = self.version
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:  # a view's bug must not stop the model or the other views
                log.exception("agent view subscriber failed")

    def _no_session_channel(self) -> None:
        if not self._no_channel and not self.model.has_session_channel:
            self._no_channel = True
            self._bump()

    async def wait_until(self, predicate: Callable[[AgentView], bool], *, timeout: float) -> bool:
        """Wait until `predicate(self)` is true, checked now and after every change. False on timeout; an exception
        from the predicate ends the wait with it (as `RoomState.wait_until`)."""
        return await wait_until_true(lambda: predicate(self), self.subscribe, timeout=timeout)

    # -- acting -------------------------------------------------------------------------------------------------
    def _user_texts(self) -> int:
        return sum(1 for e in self.model.conversation if isinstance(e.item, ChatMessage) and e.item.role == "user")

    async def send(self, text: str, *, timeout: float = 20.0) -> None:
        """Send `text` to the agent on `lk.chat`, resending until it shows it heard (its conversation_item_added for
        a user message): right after joining, the agent drops text from a participant it does not know yet.
        Raises AgentSendError: from a hidden inspector, when another participant is the agent's linked one (it
        reads only that one's lk.chat), or when the agent did not hear within `timeout`."""
        tracker = self._tracker
        if tracker.hidden:
            raise AgentSendError(
                f"{tracker.own_identity!r} inspects the room hidden and publishes nothing: join the room (not "
                f"inspect) to chat with {self.identity!r}.",
                agent=self.identity,
                reason="hidden",
            )
        start = time.monotonic()
        sends = 0
        while True:
            if tracker.linked_elsewhere(self):
                raise tracker.not_linked_error(self, sends)
            users_before, sent_at = self._user_texts(), time.time()
            await tracker.send_chat(text)
            sends += 1
            left = timeout - (time.monotonic() - start)
            heard = await self.wait_until(
                _heard_since(users_before, sent_at), timeout=min(HEARD_WITHIN, max(left, 0.0))
            )
            if heard:
                if not self._heard:
                    self._heard = True
                    self._bump()
                self.last_send = SendResult(text, sends, time.monotonic() - start)
                return
            waited = time.monotonic() - start
            other = tracker.earlier_candidate(self.identity)
            if other is not None and waited >= min(NOT_LINKED_AFTER, timeout):
                raise tracker.not_linked_error(self, sends, other=other)
            if waited >= timeout:
                raise AgentSendError(
                    f"{self.identity!r} did not show it heard {text!r} in {timeout:g} s ({sends} sends on lk.chat): "
                    f"{NO_SESSION_CHANNEL if self.has_session_channel is False else 'it added no user message.'}",
                    agent=self.identity,
                    reason="not_heard",
                )

    async def _ask(self, kind: RequestKind, expected: type[R], *, text: str = "", timeout: float) -> R:
        answer = await self._tracker.request(self, kind, text=text, timeout=timeout)
        if not isinstance(answer, expected):
            raise AgentRequestError(kind, "", f"expected {expected.__name__}, got {type(answer).__name__}")
        return answer

    async def ping(self, *, timeout: float = 5.0) -> float:
        """Round trip of a session `ping`, in seconds."""
        start = time.monotonic()
        await self._ask("ping", Pong, timeout=timeout)
        return time.monotonic() - start

    async def chat_history(self, *, timeout: float = 5.0) -> pd.DataFrame:
        """The session's whole history (function calls and outputs included) as a DataFrame: type, role, text,
        name, arguments, output, interrupted."""
        return (await self._ask("get_chat_history", ChatHistory, timeout=timeout)).frame()

    async def session_state(self, *, timeout: float = 5.0) -> SessionState:
        return await self._ask("get_session_state", SessionState, timeout=timeout)

    async def agent_info(self, *, timeout: float = 5.0) -> AgentInfo:
        """The current agent's id, instructions, tools and its own chat context."""
        return await self._ask("get_agent_info", AgentInfo, timeout=timeout)

    async def session_usage(self, *, timeout: float = 5.0) -> SessionUsage:
        return await self._ask("get_session_usage", SessionUsage, timeout=timeout)

    async def rtc_stats(self, *, timeout: float = 5.0) -> RtcStats:
        return await self._ask("get_rtc_stats", RtcStats, timeout=timeout)

    async def run_input(self, text: str, *, timeout: float = 20.0) -> ChatHistory:
        """Run one whole turn with `text` as the user's input (a session request, not lk.chat); the items it added."""
        return await self._ask("run_input", ChatHistory, text=text, timeout=timeout)


def _heard_since(users_before: int, sent_at: float) -> Callable[[AgentView], bool]:
    """Whether the agent shows it heard a text sent at `sent_at`, when it had `users_before` user messages."""

    def heard(view: AgentView) -> bool:
        if view._user_texts() > users_before:
            return True
        # Without the session channel no conversation_item_added comes: the agent thinking, or a reply opening,
        # after our send is the only sign it heard.
        m = view.model
        if m.has_session_channel:
            return False
        return any(s.new == "thinking" and s.at >= sent_at for s in m.attribute_states) or any(
            s.received_at >= sent_at and s.role == "assistant" for s in m.segments.values()
        )

    return heard
