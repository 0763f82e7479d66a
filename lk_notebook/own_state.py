"""Setting your own attributes, metadata and name from a `Session`: checked first, then confirmed by the echo.

`Session` holds an `OwnStateWriter` and its `set_attributes`, `set_metadata` and `set_name` are the writer's. The
SDK never reports a refused change (a missing canUpdateOwnMetadata, a size limit of the server): the only sign is
that the server's echo never comes, so each change waits for it (`confirm`) and says why it may not have come.

Example::

    await session.set_attributes({"status": "away", "seat": ""})   # "" deletes a key; other keys are untouched
    await session.set_metadata('{"hand": "raised"}')
    await session.set_name("Ann (host)")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from . import limits
from .errors import InvalidInputError, UpdateRefusedError
from .events import AttributesChanged, ConnectionStatus, ParticipantInfo
from .own_participant import OwnParticipant
from .state import RoomState

__all__ = ["OwnStateWriter"]


# NO_OP_SENT: why a change the model already shows is sent all the same, without waiting for an echo. A change
# made outside lk_notebook (the raw SDK's `room.local_participant`, the server API) is in the model only once its
# echo arrives; until then a real change (deleting the key it just set) looks like a no-op, and skipping it lost the
# delete (CI under load, notebook 02). The server answers a true no-op like a change and sends no event (measured
# under load 3: no-op p50 1.6-3.7 ms against 3.6 ms for a change; 8 of 520 no-ops and 2 of 130 changes waited out
# the SDK's 5 s request timeout), so there is no echo to wait for; a change that was real after all is echoed and
# reaches the model like any other.


class OwnStateWriter:
    """Writes one participant's own state through `me.local()` (the current room's local participant: a rejoin
    replaces the room) and confirms each change by its echo in `me.state`.

    Example::

        writer = OwnStateWriter(OwnParticipant(lambda: room.local_participant, "ann", "demo", state, router, guard))
        await writer.set_attributes({"status": "away"})
    """

    def __init__(self, me: OwnParticipant, *, confirm_timeout: float = 5.0) -> None:
        self.me = me
        self.confirm_timeout = confirm_timeout
        """Seconds to wait for the server to echo a state change before calling it refused."""
        self._pending_attributes: dict[str, str] = {}
        """Own attribute values sent but not echoed yet (e.g. after confirm=False): the no-op check needs them."""

    def echoed(self, keys: Iterable[str]) -> None:
        """The server reported our attributes `keys` changed: its value is the truth for them now."""
        for key in keys:
            self._pending_attributes.pop(key, None)

    def _require_metadata_permission(self, what: str) -> None:
        if not self.me.local().permissions.can_update_metadata:
            raise UpdateRefusedError(
                f"cannot set {what}: the token of {self.me.identity!r} lacks canUpdateOwnMetadata, so the server "
                f"would refuse it (the SDK would not tell you). Mint a token with "
                f"Grants(can_update_own_metadata=True), or change it through the server API (session.admin).",
                identity=self.me.identity,
                what=what,
            )

    async def set_attributes(self, changes: Mapping[str, str], *, confirm: bool = True) -> None:
        """Set some of your attributes; a value of "" deletes the key. Other keys are untouched.

        Validated first (string keys and values, the 64 KiB limit on the merged set). A change the model already
        shows is still sent (the model may not have a change made outside lk_notebook yet), without waiting for an
        echo that will not come. With `confirm`, waits until the server echoes the change and raises
        UpdateRefusedError if it does not within `confirm_timeout`. A key that another writer (the server API)
        changes meanwhile counts as answered: last write wins, and the model shows the server's value. (A refusal
        that coincides with such a write cannot be told apart: the SDK never reports refusals.)
        """
        self.me.guard.require_open("set attributes")
        local = self.me.state.local
        current = local.attributes if local is not None else {}
        clean = limits.check_attributes(current, changes)
        if not clean:
            return
        self._require_metadata_permission("attributes")
        # What the server will hold once the writes in flight land. (Against the model alone, deleting a key whose
        # unconfirmed write has not echoed yet would look like a no-op.)
        expected = limits.merged_attributes(current, self._pending_attributes)
        if limits.merged_attributes(expected, clean) == expected:
            await self.me.local().set_attributes(clean)  # sent all the same, no echo to wait for: NO_OP_SENT
            return
        # Keys the server reports changed for us from now on. Needed because a concurrent write to the same key
        # may land after ours (our value is shown for a moment, or never, when the server coalesces the two
        # updates into one): waiting for our value would then report a refusal that did not happen.
        answered: set[str] = set()

        def note(event: object) -> None:
            if isinstance(event, AttributesChanged) and event.identity == self.me.identity:
                answered.update(event.changed)

        unsubscribe = self.me.state.subscribe(note)
        try:
            self._pending_attributes.update(clean)
            await self.me.local().set_attributes(clean)
            if confirm:
                # Only the keys we changed: someone else may change other keys at the same time.
                await self._confirm(
                    lambda p: all(k in answered or p.attributes.get(k, "") == v for k, v in clean.items()),
                    "attributes",
                )
        except BaseException:
            for key in clean:  # refused or not sent: nothing of it is in flight any more
                self._pending_attributes.pop(key, None)
            raise
        finally:
            unsubscribe()

    async def set_metadata(self, metadata: str, *, confirm: bool = True) -> None:
        """Set your metadata (an opaque string; JSON is common). See `set_attributes` for `confirm`."""
        self.me.guard.require_open("set metadata")
        value = limits.check_metadata(metadata)
        if value == "":
            raise InvalidInputError(
                'LiveKit ignores empty metadata (the server treats "" as \'no change\'); set "{}" or " " to clear it.'
            )
        self._require_metadata_permission("metadata")
        local = self.me.state.local
        looks_applied = local is not None and local.metadata == value  # sent all the same: NO_OP_SENT
        await self.me.local().set_metadata(value)
        if confirm and not looks_applied:
            await self._confirm(lambda p: p.metadata == value, "metadata")

    async def set_name(self, name: str, *, confirm: bool = True) -> None:
        """Set your display name. See `set_attributes` for `confirm`."""
        self.me.guard.require_open("set name")
        if not isinstance(name, str) or not name:
            raise InvalidInputError("name must be a non-empty string")
        self._require_metadata_permission("name")
        local = self.me.state.local
        looks_applied = local is not None and local.name == name  # sent all the same: NO_OP_SENT
        await self.me.local().set_name(name)
        if confirm and not looks_applied:
            await self._confirm(lambda p: p.name == name, "name")

    async def _confirm(self, applied: Callable[[ParticipantInfo], bool], what: str) -> None:
        def check(state: RoomState) -> bool:
            local = state.local
            return local is not None and applied(local)

        if not await self.me.state.wait_until(check, timeout=self.confirm_timeout):
            status = self.me.state.status
            if status is not ConnectionStatus.CONNECTED:
                # Not a refusal to blame on permissions: the change may never have reached the server.
                why = f"the connection is {status.value}, so the change may not have reached the server"
            else:
                why = (
                    "it refuses changes over its size limits or without canUpdateOwnMetadata; the SDK does not "
                    "report why"
                )
            raise UpdateRefusedError(
                f"the server did not apply the {what} change of {self.me.identity!r} within "
                f"{self.confirm_timeout:g} s: {why}. Your state is unchanged.",
                identity=self.me.identity,
                what=what,
            )
