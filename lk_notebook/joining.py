"""`join()`: credentials, a token, a Session, and what happens when a join cell runs again."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import warnings
import weakref
from collections.abc import Mapping

from . import limits
from .config import Credentials, Grants, hidden_grants, resolve_credentials
from .errors import CredentialsError, InvalidInputError, LkNotebookWarning
from .events import ParticipantInfo
from .install import find_server, install_server
from .lifecycle import DUPLICATE_IDENTITY
from .session import Session, TokenFactory

__all__ = ["ANNOUNCE_ATTRIBUTE", "join"]

ANNOUNCE_ATTRIBUTE = "_announce"
"""The attribute `join(..., announce=True)` sets right after connecting (value: the UTC time of the join, ISO 8601).
livekit-server sends the joins of participants without media tracks to the others on a 3 s tick, but an attribute
change at once (measured in docs/measurements.md); so the others learn of this participant, and name it as the
sender of its data packets, within tens of milliseconds. Keys starting "lk." are LiveKit's own: this one is not."""

_live: weakref.WeakValueDictionary[tuple[str, str, str], Session] = weakref.WeakValueDictionary()
"""The live session per (url, room, identity) joined in this process: a second join of the same identity replaces
the first (the server removes it), and join() says so."""


async def join(
    room: str,
    *,
    identity: str,
    name: str | None = None,
    metadata: str | None = None,
    attributes: Mapping[str, str] | None = None,
    url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    token: str | None = None,
    grants: Grants | None = None,
    timeout: float = 20.0,
    history_limit: int = 10_000,
    inbox_limit: int = 1_000,
    hidden: bool = False,
    rejoin: bool = False,
    announce: bool = False,
) -> Session:
    """Join `room` as `identity` and return a connected Session whose `state` is already complete.

    Credentials: explicit `url`/`api_key`/`api_secret`, else the LIVEKIT_* variables, else a local server
    (installed and started on demand). Or pass a ready `token` (with `url`, or LIVEKIT_URL). `grants` withholds
    permissions, e.g. `Grants(can_update_own_metadata=False)`. `hidden=True` joins as an inspector (see
    `lk_notebook.inspect`): invisible to the others, publishing nothing, subscribed to no media. `rejoin=True`:
    when the SDK gives up on a lost connection (a server restart, a long network drop), connect again with
    back-off and resynchronise the state (see lk_notebook.rejoin); not after being removed or replaced by a
    session with the same identity. `announce=True`: right after connecting, set the visible attribute
    `ANNOUNCE_ATTRIBUTE` ("_announce": the join time), which makes the server tell everyone of this participant
    at once instead of on its ~3 s tick for participants without media; until they are told, the others receive
    this session's data packets without a sender (`Message.sender` None). The cost: an attribute everyone sees,
    and one state update. Needs the `can_update_own_metadata` grant (the default); not with `hidden=True`.

    Example::

        async with await lk_notebook.join("demo", identity="ann") as session:
            ...
    """
    if not isinstance(room, str) or not room:
        raise InvalidInputError("room must be a non-empty string")
    if not isinstance(identity, str) or not identity:
        raise InvalidInputError("identity must be a non-empty string")
    if attributes is not None:
        attributes = limits.check_attributes({}, attributes)
    if metadata is not None:
        metadata = limits.check_metadata(metadata)
    if announce and hidden:
        raise InvalidInputError("announce=True makes a participant visible at once; a hidden one is never announced")
    credentials: Credentials | None
    if token is not None:
        if not isinstance(token, str) or not token:
            raise InvalidInputError("token must be a non-empty string")
        try:
            credentials = resolve_credentials(url, api_key, api_secret, start_local=False)
        except CredentialsError:
            credentials = None
        join_url = url or (credentials.url if credentials else None)
        if not join_url:
            raise CredentialsError("a token needs a server URL: pass url=... or set LIVEKIT_URL.")
        minted = False
    else:
        env_configured = bool(os.environ.get("LIVEKIT_URL"))
        if url is None and api_key is None and not env_configured and find_server() is None:
            # Installing can take minutes (go build): keep the event loop free while it runs.
            await asyncio.to_thread(install_server)
        credentials = resolve_credentials(url, api_key, api_secret)
        join_url = credentials.url
        if hidden:
            grants = hidden_grants(grants)
        minted = True
        token = credentials.token(room, identity, name=name, metadata=metadata, attributes=attributes, grants=grants)
    session = Session(
        room,
        identity,
        url=join_url,
        credentials=credentials,
        history_limit=history_limit,
        inbox_limit=inbox_limit,
        hidden=hidden,
        rejoin=rejoin,
        token_factory=_token_factory(token, credentials if minted else None, room, identity, grants),
    )
    key = (join_url, room, identity)
    earlier = _live.get(key)
    replacing = earlier is not None and not earlier.closed  # checked now: the server is about to close it
    await session._connect(token, timeout=timeout)
    if earlier is not None and replacing:
        # Re-running a join cell is the usual cause. The sid makes each warning distinct, so Python's "once per
        # location" filter does not hide the second time the same cell does it.
        warnings.warn(
            LkNotebookWarning(
                f"{identity!r} already had a live session in room {room!r} in this kernel (participant "
                f"{earlier.state.local.sid if earlier.state.local else '?'}). LiveKit allows one connection per "
                f"identity, so the server removed the earlier session ({DUPLICATE_IDENTITY}) and this one replaces "
                f"it. Leave the old session first, or join with another identity to keep both."
            ),
            stacklevel=2,
        )
    _live[key] = session
    if announce:
        await _announce(session)
    return session


async def _announce(session: Session) -> None:
    """Set ANNOUNCE_ATTRIBUTE, confirmed by the server's echo; a refusal leaves the session and raises."""
    try:
        await session.set_attributes({ANNOUNCE_ATTRIBUTE: dt.datetime.now(dt.timezone.utc).isoformat()})
    except BaseException:
        await session.leave()
        raise


def _token_factory(
    token: str, credentials: Credentials | None, room: str, identity: str, grants: Grants | None
) -> TokenFactory:
    """Tokens for rejoining: freshly minted with the same grants and the name, metadata and attributes the
    participant had last, when this process minted the first one; else the given token again (it may have expired
    by then, and the rejoin then stops with an AuthenticationError)."""
    if credentials is None:
        return lambda _local: token

    def mint(local: ParticipantInfo | None) -> str:
        if local is None:
            return token
        return credentials.token(
            room,
            identity,
            name=local.name or None,
            metadata=local.metadata or None,
            attributes=dict(local.attributes) or None,
            grants=grants,
        )

    return mint
