"""The dashboard's web plumbing: templates, the headers every page carries, the session at each request, and
the one place where a refusal becomes a page.

Handlers are `page` (GET: needs a session) and `action` (POST: needs a session and the form's CSRF token; on
success it redirects, so a reload never repeats it). The domain does every check a tool does; a refusal it
raises is shown on the page with its HTTP status and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette import staticfiles
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Scope

from team_table import limits
from team_table.clock import parse_iso
from team_table.errors import Forbidden, TeamTableError
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.server.guard import FailedAuth
from team_table.server.metrics import Metrics
from team_table.ui import sessions
from team_table.ui.sessions import Session

if TYPE_CHECKING:
    from team_table.runtime import Runtime

log = logging.getLogger("team_table.ui")

HERE = Path(__file__).parent
FLASH_COOKIE = "team_table_flash"
STATUS = {"invalid": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
          "rate_limited": 429, "unavailable": 503}
HEADERS = {
    # No inline script or style anywhere: what runs is the package's own static files.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
                               " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers send "Origin: null" with every form
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
Run = Callable[[Callable[[], Any]], Awaitable[Any]]


def _ago(moment: str | None, now: datetime) -> str:
    if not moment:
        return "never"
    seconds = max(0, int((now - parse_iso(moment)).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _when(moment: str | None) -> str:
    return parse_iso(moment).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True)
templates.filters["when"] = _when
templates.globals["hub_name"] = HUB_SENDER  # what the hub itself writes under


@dataclass
class Dashboard:
    """What the dashboard's handlers share: the runtime (hub, push, workflows), the worker-thread runner for
    database work, the failed-authentication throttle and the metrics."""

    rt: Runtime
    run: Run
    failures: FailedAuth
    metrics: Metrics

    @property
    def hub(self) -> Hub:
        return self.rt.hub

    async def session(self, request: Request) -> Session | None:
        return await self.run(lambda: sessions.find(self.hub.pinned(), request.cookies.get(sessions.COOKIE)))

    async def badge(self, session: Session) -> int:
        if not session.caller.may("resolve_escalation"):
            return 0
        rows = await self.run(lambda: self.hub.store.query("SELECT COUNT(*) FROM escalation WHERE status = 'open'"))
        return rows[0][0]

    async def render(self, request: Request, template: str, session: Session | None, status: int = 200,
                     **context: Any) -> Response:
        now = self.hub.clock.now()
        flash = request.cookies.get(FLASH_COOKIE, "")[:300]
        html = templates.get_template(template).render(
            me=session.caller if session else None, csrf=session.csrf if session else "",
            badge=await self.badge(session) if session else 0, path=request.url.path, flash=flash,
            ago=lambda moment: _ago(moment, now), **context)
        response = HTMLResponse(html, status, headers=HEADERS)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/ui")
        return response

    def refusal(self, request: Request, session: Session | None, error: TeamTableError) -> Awaitable[Response]:
        """A refusal of the domain, as a page: what was refused and what to do next."""
        return self.render(request, "refused.html", session, STATUS.get(error.code, 400), error=error.message,
                           code=error.code, back=_back(request))


def _back(request: Request) -> str:
    """Where "Back" goes from a refusal: the page itself for a GET, the page the form was on for a POST."""
    if request.method == "GET":
        return request.url.path
    came = urlsplit(request.headers.get("referer", ""))
    same = not came.netloc or came.netloc == request.headers.get("host")
    return came.path if same and came.path.startswith("/ui") and came.path != "/ui/signout" else "/ui"


def signed_out(request: Request, *, come_back: bool = True) -> Response:
    """To the sign-in page (and, with `come_back`, back to this page after it); a stale cookie is cleared."""
    here = request.url.path
    target = "/ui/signin" + (f"?next={quote(here, safe='/')}" if come_back and here != "/ui" else "")
    response = RedirectResponse(target, 303, headers=HEADERS)
    if request.cookies.get(sessions.COOKIE):
        response.delete_cookie(sessions.COOKIE, path="/")
    return response


def done(to: str, notice: str) -> Response:
    """After an action: back to a page (303, so a reload does not repeat the post), with a notice shown once."""
    response = RedirectResponse(to, 303, headers=HEADERS)
    response.set_cookie(FLASH_COOKIE, notice[:300], max_age=30, path="/ui", httponly=True, samesite="strict")
    return response


class StaticFiles(staticfiles.StaticFiles):
    """The package's static files (its script, htmx and the style sheet), never sniffed, revalidated on use."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update({"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
        return response


Handler = Callable[[Dashboard, Request, Session], Awaitable[Response]]
FormHandler = Callable[[Dashboard, Request, Session, FormData], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Dashboard], Callable[[Request], Awaitable[Response]]]:
    """A GET page: signed-in people only; a refusal of the domain becomes the refusal page."""
    def bind(ui: Dashboard) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            try:
                session = await ui.session(request)
            except TeamTableError as error:  # the database cannot answer now
                return await ui.refusal(request, None, error)
            if session is None:
                return signed_out(request)
            try:
                return await handler(ui, request, session)
            except TeamTableError as error:
                return await ui.refusal(request, session, error)

        return endpoint

    return bind


def action(handler: FormHandler) -> Callable[[Dashboard], Callable[[Request], Awaitable[Response]]]:
    """A POST action: signed-in people only, with the session's CSRF token in the form."""
    def bind(ui: Dashboard) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            try:
                session = await ui.session(request)
            except TeamTableError as error:  # the database cannot answer now
                return await ui.refusal(request, None, error)
            if session is None:
                return signed_out(request)
            try:
                same_origin(request)
                form = await request.form(max_files=0, max_fields=50)
                sessions.check_csrf(session.csrf, form.get("csrf"))
                return await handler(ui, request, session, form)
            except TeamTableError as error:
                return await ui.refusal(request, session, error)

        return endpoint

    return bind


def same_origin(request: Request) -> None:
    """A form post comes from this very origin (the hub's Origin check lets any port of localhost through; a page
    on another port must not post a dashboard form)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
        raise Forbidden(f"This form was sent from {origin}, not from the dashboard's own pages; nothing was changed.")


def path_id(request: Request, key: str) -> int:
    """An id from the path, refused unless it is one the table could hold."""
    return limits.whole(request.path_params[key], key)


def text(form: FormData, key: str, default: str = "") -> str:
    value = form.get(key, default)
    return value if isinstance(value, str) else default
