"""Sessions: who a connection is logged in as, and whether that still holds.

A ``Session`` belongs to one connection. ``/connexion`` fills it (``login``)
with an ``Identity`` and the claims of its token; the dispatcher re-checks it
every ``IDENTITY_RECHECK`` seconds (``check_due``, ``still_valid``) before a
command that needs a login, so a key rotated or a user removed (by the CLI, in
another process), a token revoked by ``/deconnexion`` elsewhere, or
``session_ttl`` passed ends the sessions already open, not only future logins.
``set_push`` subscribes the connection (its ``listener``) to live events; a
listener sends no requests, so ``app.App`` sweeps the listeners' sessions at
the same interval (``session_alive`` decides for both) and tells the dead
ones ``SESSION_ENDED`` before closing them.

Handlers receive the session (and, for commands with roles, its identity),
never the transport.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from protocol.codec import encode_push

from .push import Broker, Listener
from .security import TokenClaims
from .storage import queries
from .storage.db import Database

__all__ = ["IDENTITY_RECHECK", "SESSION_ENDED", "Identity", "Session", "session_alive"]

# Seconds between two checks that an open session is still valid: at a
# request once this old, and for push listeners (which send none) by a sweep
# of them all at this interval, so a revocation reaches a listener within it.
IDENTITY_RECHECK = 5.0
# What a listener whose session has ended is told before it is closed.
SESSION_ENDED = encode_push("deconnexion", {"error": "your session has ended: log in again"})


class Identity:
    """Who a connection is logged in as."""

    __slots__ = ("id", "key_digest", "name", "role")

    def __init__(self, id: int, role: str, name: str, key_digest: str) -> None:
        self.id = id
        self.role = role
        self.name = name
        self.key_digest = key_digest

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "name": self.name}


def session_alive(
    identity: Identity,
    claims: TokenClaims,
    current_digest: str | None,
    revoked: bool,
    *,
    session_ttl: int,
    admin_digest: str,
) -> bool:
    """Whether a session may go on, given what the database says of it.

    ``current_digest`` is the user's key digest now (None: removed), and
    ``revoked`` whether ``/deconnexion`` ended its token.
    """
    if revoked or claims.issued_at + session_ttl <= time.time():
        return False
    if identity.role == "admin":
        return hmac.compare_digest(identity.key_digest, admin_digest)
    return current_digest is not None and hmac.compare_digest(current_digest, identity.key_digest)


class Session:
    """One connection's login: identity, token claims, last check, push flag."""

    __slots__ = (
        "_broker",
        "claims",
        "identity",
        "listener",
        "peer",
        "push_enabled",
        "validated_at",
    )

    def __init__(self, listener: Listener, broker: Broker, peer: str = "?") -> None:
        self.listener = listener  # what live events are pushed to: the connection
        self._broker = broker
        self.peer = peer  # the client's address
        self.identity: Identity | None = None
        self.claims: TokenClaims | None = None
        self.validated_at = 0.0  # time.monotonic() of the last check
        self.push_enabled = False

    def login(self, identity: Identity, claims: TokenClaims) -> None:
        """A successful ``/connexion``; a listener keeps listening, as the new identity."""
        push = self.push_enabled
        self.set_push(False)
        self.identity = identity
        self.claims = claims
        self.validated_at = time.monotonic()
        self.set_push(push)

    def logout(self) -> None:
        self.set_push(False)
        self.identity = None
        self.claims = None

    def set_push(self, enabled: bool) -> None:
        """``/push on|off``: subscribe the listener to the identity's events, or not."""
        if self.identity is None:
            self.push_enabled = False
            return
        if enabled and not self.push_enabled:
            self._broker.subscribe(self.identity.id, self.listener)
        elif not enabled and self.push_enabled:
            self._broker.unsubscribe(self.identity.id, self.listener)
        self.push_enabled = enabled

    def check_due(self) -> bool:
        """Whether the session was last checked more than ``IDENTITY_RECHECK`` ago."""
        return time.monotonic() - self.validated_at >= IDENTITY_RECHECK

    async def still_valid(self, db: Database, *, session_ttl: int, admin_digest: str) -> bool:
        """Check that the session may go on (see the module docstring); log out if not."""
        now = time.monotonic()
        identity, claims = self.identity, self.claims
        if identity is None or claims is None:
            return False
        user_id = None if identity.role == "admin" else identity.id
        current, revoked = await db.read(queries.session_state, user_id, claims.nonce_hex)
        alive = session_alive(
            identity,
            claims,
            current,
            revoked,
            session_ttl=session_ttl,
            admin_digest=admin_digest,
        )
        if alive:
            self.validated_at = now
        else:
            self.logout()
        return alive
