"""Credentials and access tokens.

Resolution order, the same for every entry point: explicit arguments, else the `LIVEKIT_URL`,
`LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET` environment variables (what the `lk` CLI and the SDKs read), else a local
server started on demand (installed first if needed) and shared by the whole process.

Example::

    creds = resolve_credentials()                     # env, or a local server
    token = creds.token("demo", "ann", grants=Grants(can_update_own_metadata=False))
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from jwt.warnings import InsecureKeyLengthWarning
from livekit import api

from .errors import CredentialsError, InvalidInputError
from .events import ParticipantKind
from .server import LocalServer

__all__ = ["Credentials", "Grants", "default_server", "hidden_grants", "resolve_credentials"]


@dataclass(frozen=True, slots=True)
class Grants:
    """What a token allows. Withhold one to demonstrate what LiveKit does without it.

    Example: `Grants(can_update_own_metadata=False)` makes `set_attributes` be refused by the server.
    """

    room_join: bool = True
    can_publish_data: bool = True
    can_update_own_metadata: bool = True
    can_subscribe: bool = True
    can_publish: bool = True
    room_admin: bool = False
    """Room admin in the token (not needed for the server API, which signs its own admin tokens)."""
    hidden: bool = False
    """Invisible to the other participants (LiveKit's `hidden` grant): what an inspector joins with."""
    kind: str = ""
    """The participant kind the server records ("agent", "sip", ...; "" = standard): how others classify you."""

    def video_grants(self) -> dict[str, Any]:
        """Every grant but `kind` (a token claim of its own), keyed as `livekit.api.VideoGrants` names it: the
        fields above are named after it, so each is written once."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "kind"}


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where a LiveKit server is and how to sign tokens for it. The secret is never shown by repr()."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)
    source: str = "explicit"
    """"explicit", "environment" or "local server": shown in views so users know which server they are on."""

    def __repr__(self) -> str:
        return f"Credentials(url={self.url!r}, api_key={self.api_key!r}, api_secret=***, source={self.source!r})"

    @property
    def http_url(self) -> str:
        """The server API's base URL (the Twirp API shares the WebSocket port)."""
        if self.url.startswith("ws://"):
            return "http://" + self.url[len("ws://") :]
        if self.url.startswith("wss://"):
            return "https://" + self.url[len("wss://") :]
        return self.url

    def token(
        self,
        room: str,
        identity: str,
        *,
        name: str | None = None,
        metadata: str | None = None,
        attributes: Mapping[str, str] | None = None,
        grants: Grants | None = None,
        ttl: datetime.timedelta = datetime.timedelta(hours=6),
    ) -> str:
        """Mint an access token (a JWT: treat it as a secret)."""
        g = grants or Grants()
        tok = (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_ttl(ttl)
            .with_grants(api.VideoGrants(room=room, **g.video_grants()))
        )
        if g.kind:
            if g.kind not in {k.value for k in ParticipantKind}:
                known = ", ".join(k.value for k in ParticipantKind)
                raise InvalidInputError(f"unknown participant kind {g.kind!r} in Grants; one of: {known}")
            tok = tok.with_kind(g.kind)  # type: ignore[arg-type]  # the SDK's Literal; the server checks the name
        if name is not None:
            tok = tok.with_name(name)
        if metadata is not None:
            tok = tok.with_metadata(metadata)
        if attributes:
            tok = tok.with_attributes(dict(attributes))
        with warnings.catch_warnings():
            # PyJWT warns about secrets under 32 bytes; the server decides whether the key is right, and a wrong
            # one gets AuthenticationError with what to check, so the warning only adds noise before it.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return tok.to_jwt()


def hidden_grants(grants: Grants | None = None) -> Grants:
    """An inspector's grants: hidden, publishing nothing, never changing its own state; subscribing as given."""
    return dataclasses.replace(
        grants or Grants(), hidden=True, can_publish=False, can_publish_data=False, can_update_own_metadata=False
    )


_default_server: LocalServer | None = None
_default_lock = threading.Lock()


def default_server() -> LocalServer:
    """The process-wide local server, started (and installed) on first use, stopped at interpreter exit."""
    global _default_server
    with _default_lock:
        if _default_server is None or not _default_server.running:
            _default_server = LocalServer().start()
        return _default_server


_VARIABLES = {"url": "LIVEKIT_URL", "api_key": "LIVEKIT_API_KEY", "api_secret": "LIVEKIT_API_SECRET"}


def _complete(values: dict[str, str | None]) -> tuple[str, str, str] | None:
    url, key, secret = (values[name] for name in _VARIABLES)
    return (url, key, secret) if url and key and secret else None


def resolve_credentials(
    url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    start_local: bool = True,
) -> Credentials:
    """Explicit arguments, else LIVEKIT_* variables, else a local server (when `start_local`)."""
    given = {"url": url, "api_key": api_key, "api_secret": api_secret}
    env = {name: os.environ.get(var) for name, var in _VARIABLES.items()}
    if any(given.values()):
        # Fill the gaps from the environment only; mixing an explicit URL with a local server makes no sense.
        merged = {name: given[name] or env[name] for name in _VARIABLES}
        explicit = _complete(merged)
        if explicit is None:
            missing = [name for name, value in merged.items() if not value]
            raise CredentialsError(
                f"missing {', '.join(missing)}: pass them all, set LIVEKIT_URL / LIVEKIT_API_KEY / "
                f"LIVEKIT_API_SECRET, or pass none to use a local server."
            )
        return Credentials(*explicit, "explicit")
    if any(env.values()):
        from_env = _complete(env)
        if from_env is None:
            missing = [_VARIABLES[name] for name, value in env.items() if not value]
            raise CredentialsError(
                f"{', '.join(missing)} not set while other LIVEKIT_* variables are: set all three, or unset them "
                f"all to use a local server."
            )
        return Credentials(*from_env, "environment")
    if not start_local:
        raise CredentialsError("no credentials: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET.")
    server = default_server()
    return Credentials(server.url, server.api_key, server.api_secret, "local server")
