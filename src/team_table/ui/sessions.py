"""Dashboard sign-in sessions: who may open one, how it is kept, and the checks at each request.

A person signs in with a member's token once. The browser then holds only a random session id, in an HttpOnly,
SameSite=Strict cookie; the database keeps the id's hash, the hash of the token it was opened with, and the
session's CSRF token. Each request authenticates that token hash again, so a revoked token, a member removed or
disabled in team.yaml, or a role taken away ends the session at its next request, on every hub process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from team_table import audit, members, tokens
from team_table.clock import iso
from team_table.errors import Forbidden, TeamTableError, Unauthorized
from team_table.hub import Hub
from team_table.models import Caller

COOKIE = "team_table_session"
SIGNIN_COOKIE = "team_table_signin"  # the CSRF token of the sign-in form (there is no session yet)
LIFETIME = timedelta(hours=12)
PEOPLE = ("person", "lead", "admin")  # the roles that may use the dashboard


@dataclass(frozen=True)
class Session:
    caller: Caller
    csrf: str
    expires_at: str
    key: str = ""  # the hash of the session id (what the database keeps)
    flash: dict = field(default_factory=dict)  # a notice or a refusal to show once, kept with the session


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def is_person(caller: Caller) -> bool:
    return any(role in PEOPLE for role in caller.roles)


def refuse_unless_person(caller: Caller) -> None:
    if not is_person(caller):
        raise Forbidden(f"The dashboard is for the people at the table: members holding {', '.join(PEOPLE)}. "
                        f"{caller.name} holds {', '.join(caller.roles)}; an agent uses the MCP tools instead.")


def open_session(hub: Hub, name: str, token: str, notice: str = "") -> tuple[str, Session]:
    """Sign `name` in with its token: the new session's id (for the cookie only) and the session; `notice` is
    shown on the first page."""
    caller = members.authenticate(hub, name, token)
    refuse_unless_person(caller)
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = hub.clock.now()
    expires = iso(now + LIFETIME)
    with hub.store.write() as conn:
        conn.execute("DELETE FROM ui_session WHERE expires_at < ?", (iso(now),))
        flash = json.dumps({"kind": "notice", "text": notice}) if notice else None
        conn.execute("INSERT INTO ui_session (id, member, token_hash, csrf, created_at, expires_at, flash)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)", (_key(session_id), name, tokens.digest(token), csrf, iso(now),
                                                       expires, flash))
        audit.record(conn, iso(now), name, "sign_in", "member", name, {"until": expires})
    return session_id, Session(caller, csrf, expires, _key(session_id))


def find(hub: Hub, session_id: str | None) -> Session | None:
    """The session behind a cookie, checked afresh (None when it is unknown, expired, or no longer valid)."""
    if not session_id or len(session_id) > 100:
        return None
    rows = hub.store.query("SELECT * FROM ui_session WHERE id = ?", (_key(session_id),))
    if not rows or rows[0]["expires_at"] < hub.now():
        return None
    row = rows[0]
    try:
        caller = members.authenticate_digest(hub, row["member"], row["token_hash"])
    except TeamTableError:
        return None
    if not is_person(caller):
        return None
    return Session(caller, row["csrf"], row["expires_at"], row["id"], json.loads(row["flash"] or "{}"))


def keep_flash(hub: Hub, session: Session, flash: dict) -> None:
    """Keep a notice (or a refusal, with what the form held) for the next page this session shows. It lives in the
    database with the session, so nothing outside the session (a cookie set from another port of the same host,
    say) can put words on the person's page."""
    with hub.store.write() as conn:
        conn.execute("UPDATE ui_session SET flash = ? WHERE id = ?", (json.dumps(flash)[:20_000], session.key))


def drop_flash(hub: Hub, session: Session) -> None:
    """The notice was shown: it goes."""
    with hub.store.write() as conn:
        conn.execute("UPDATE ui_session SET flash = NULL WHERE id = ?", (session.key,))


def close(hub: Hub, session_id: str | None) -> None:
    """Sign out: the session is gone from the database (its cookie is cleared by the caller)."""
    if session_id:
        with hub.store.write() as conn:
            row = conn.execute("DELETE FROM ui_session WHERE id = ? RETURNING member", (_key(session_id),)).fetchone()
            if row is not None:
                audit.record(conn, hub.now(), row["member"], "sign_out", "member", row["member"])


def masked(token: str) -> str:
    """The CSRF token as a page carries it: XORed with a fresh random mask, the mask in front. Each page holds
    different bytes, so a compressed page never reveals the token by its size (BREACH)."""
    raw = token.encode()
    mask = secrets.token_bytes(len(raw))
    return base64.urlsafe_b64encode(mask + bytes(a ^ b for a, b in zip(raw, mask, strict=True))).decode()


def _unmasked(given: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(given.encode())
    except (ValueError, TypeError):
        return b""
    half = len(raw) // 2
    return bytes(a ^ b for a, b in zip(raw[half:], raw[:half], strict=True)) if len(raw) % 2 == 0 else b""


def check_csrf(expected: str, given: object) -> None:
    """A form's CSRF token (masked, as pages carry it), compared in constant time; refused when missing or wrong."""
    if not isinstance(given, str) or not given or len(given) > 200 \
            or not hmac.compare_digest(expected.encode(), _unmasked(given)):
        raise Unauthorized("The form is out of date or did not come from this page (its CSRF token is missing or "
                           "wrong): reload the page and try again.")
