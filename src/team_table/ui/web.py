"""The dashboard's web plumbing: templates, the headers every page carries, the session at each request, and
the one place where a refusal becomes a page.

Handlers are `page` (GET: needs a session) and `action` (POST: needs a session and the form's CSRF token). An
action always ends in a redirect to a page (POST/redirect/GET), whether it was done or refused: the browser never
rests on a POST result, so neither a reload nor the live script can send a form again. What happened (a notice,
or the refusal with what the form held) is kept with the session and shown once on that page.
"""

from __future__ import annotations

import logging
import posixpath
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup
from starlette import staticfiles
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

from team_table import limits
from team_table.clock import parse_iso
from team_table.errors import Forbidden, TeamTableError
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.server import refusals
from team_table.server.auth_failures import FailedAuth
from team_table.server.metrics import Metrics
from team_table.ui import parts, sessions, wording
from team_table.ui.sessions import Session

if TYPE_CHECKING:
    import jinja2

    from team_table.runtime import Runtime

log = logging.getLogger("team_table.ui")

HERE = Path(__file__).parent
HEADERS = {
    # No inline script or style anywhere: what runs is the package's own static files.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
                               " connect-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none';"
                               " base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make browsers send "Origin: null" with every form
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
Run = Callable[[Callable[[], Any]], Awaitable[Any]]


def _ago(moment: str | None, now: datetime) -> Markup:
    """How long ago, as a <time> the page's script keeps current (a live part's version leaves it out)."""
    if not moment:
        return Markup("never")
    seconds = max(0, int((now - parse_iso(moment)).total_seconds()))
    words = f"{seconds} s ago"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            words = f"{seconds // size} {unit} ago"
            break
    return Markup('<time datetime="{}" data-ago>{}</time>').format(moment, words)


def _part(part_id: str, tag: str = "div", css: str = "", label: str = "", caller: Any = None) -> Markup:
    return parts.wrap(part_id, caller(), tag, css, label)


def _when(moment: str | None) -> str:
    return parse_iso(moment).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


@cache
def _templates() -> jinja2.Environment:
    """The pages' templates, loaded at the first page asked for: a hub nobody opens /ui on never imports Jinja (a
    tenth of a second of every network hub's start)."""
    import jinja2

    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    templates.filters["when"] = _when
    templates.globals["hub_name"] = HUB_SENDER  # what the hub itself writes under
    templates.globals["part"] = _part
    templates.globals["receipt_counts"] = lambda readers: [(state, n) for state, n in Counter(
        r.state for r in readers).most_common()]
    return templates


@dataclass
class Dashboard:
    """What the dashboard's handlers share: the runtime (hub, push, workflows), the worker-thread runner for
    database work, the sign-in throttle and the metrics. The sign-ins have a throttle of their own: an agent on the
    same machine that keeps sending a bad token must not lock the person out (nor the other way round)."""

    rt: Runtime
    run: Run
    signins: FailedAuth
    metrics: Metrics

    @property
    def hub(self) -> Hub:
        return self.rt.hub

    async def session(self, request: Request) -> Session | None:
        return await self.run(lambda: sessions.find(self.hub.pinned(), request.cookies.get(sessions.COOKIE)))

    async def badge(self, session: Session) -> int:
        """How many decisions wait for this person: open escalations and open questions."""
        if not session.caller.may("resolve_escalation"):
            return 0
        rows = await self.run(lambda: self.hub.store.query(
            "SELECT (SELECT COUNT(*) FROM escalation WHERE status = 'open')"
            " + (SELECT COUNT(*) FROM question WHERE status = 'open')"))
        return rows[0][0]

    async def render(self, request: Request, template: str, session: Session | None, status: int = 200,
                     **context: Any) -> Response:
        """A page. A GET page is live (it listens to the table) and shows the session's notice once; asked for by
        the live script with the versions it holds, only the parts that changed carry their markup."""
        now = self.hub.clock.now()
        live = request.method in ("GET", "HEAD") and session is not None
        flash = session.flash if session and live else {}
        kept = flash.get("fields", {}) if flash.get("kind") == "refused" else {}
        kept_action = flash.get("action", "")
        html = _templates().get_template(template).render(
            me=session.caller if session else None, csrf=sessions.masked(session.csrf) if session else "",
            badge=await self.badge(session) if session else 0, path=request.url.path,
            here=_here(request), flash=flash, live=live, ago=lambda moment: _ago(moment, now),
            keep=lambda action, name, default="": kept.get(name, default) if action == kept_action else default,
            lacking=lambda action: wording.lacking(self.hub.team, action, session.caller.roles if session else ()),
            **context)
        if session and flash and request.headers.get(parts.HEADER) is None:
            await self.run(lambda: sessions.drop_flash(self.hub.pinned(), session))
        if request.headers.get(parts.HEADER) is not None:
            html = parts.only_changed(html, parts.held(request.headers.get(parts.HEADER)))
        body = html.encode()
        headers = dict(HEADERS, Vary="Accept-Encoding")
        packed = parts.compressed(body, request.headers.get("accept-encoding", ""))
        if packed is not None:
            body, headers["Content-Encoding"] = packed, "gzip"
        return Response(body, status, headers=headers, media_type="text/html")

    def refusal(self, request: Request, session: Session | None, error: TeamTableError) -> Awaitable[Response]:
        """A refusal as a page of its own (a form that did not come from a dashboard page, or a page that cannot
        be shown): what was refused and what to do next. It is never live."""
        roles = session.caller.roles if session else ()
        return self.render(request, "refused.html", session, refusals.status(error),
                           error=wording.for_people(error, self.hub.team, roles), code=error.code,
                           back=_back(request))

    async def refused(self, request: Request, session: Session, error: TeamTableError, form: FormData) -> Response:
        """A refused action: back to the page the form was on (a GET), which shows the refusal and what the form
        held, so nothing typed is lost and nothing is sent again."""
        fields = {key: value for key, value in form.multi_items() if key != "csrf" and isinstance(value, str)}
        flash = {"kind": "refused", "text": wording.for_people(error, self.hub.team, session.caller.roles),
                 "code": error.code, "action": request.url.path, "fields": fields}
        await self.run(lambda: sessions.keep_flash(self.hub.pinned(), session, flash))
        return RedirectResponse(_back(request, form), 303, headers=HEADERS)

    async def done(self, session: Session, to: str, notice: str) -> Response:
        """After an action: to a page (303, so a reload does not repeat the post), with a notice shown once."""
        await self.run(lambda: sessions.keep_flash(self.hub.pinned(), session, {"kind": "notice", "text": notice}))
        return RedirectResponse(to, 303, headers=HEADERS)


def _here(request: Request) -> str:
    """This page's path and query (where a form sends the person back to)."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _back(request: Request, form: FormData | None = None) -> str:
    """Where a refusal goes back to: the page itself for a GET; for a POST, the page the form names (`back`), else
    the page it was on (its Referer, on this very origin), else Needs you. Always a dashboard page."""
    if request.method == "GET":
        return _here(request)
    named = form.get("back") if form is not None else None
    if isinstance(named, str) and named:
        return safe_next(named)
    came = urlsplit(request.headers.get("referer", ""))
    same = not came.netloc or came.netloc == request.headers.get("host")
    if not same or came.path == "/ui/signout":
        return "/ui"
    return safe_next(came.path + (f"?{came.query}" if came.query else ""))


def safe_next(target: str | None) -> str:
    """A place to send the person: a dashboard page of this hub (with its query), never another site or route."""
    if not target or "\\" in target:
        return "/ui"
    parts_ = urlsplit(target)
    path = posixpath.normpath(parts_.path) if parts_.path else ""
    if parts_.scheme or parts_.netloc or not (path == "/ui" or path.startswith("/ui/")) or path.startswith("//"):
        return "/ui"
    return path + (f"?{parts_.query}" if parts_.query else "") + (f"#{parts_.fragment}" if parts_.fragment else "")


def signed_out(request: Request, *, come_back: bool = True) -> Response:
    """To the sign-in page (and, with `come_back`, back to this page, query and all, after it); a stale cookie is
    cleared."""
    here = _here(request) if request.method in ("GET", "HEAD") else request.url.path
    target = "/ui/signin" + (f"?next={quote(here, safe='/')}" if come_back and here != "/ui" else "")
    response = RedirectResponse(target, 303, headers=HEADERS)
    if request.cookies.get(sessions.COOKIE):
        response.delete_cookie(sessions.COOKIE, path="/")
    return response


class StaticFiles(staticfiles.StaticFiles):
    """The package's static files (its scripts and the style sheet), never sniffed, revalidated on use."""

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
            try:  # a form from elsewhere, or an outdated one: refused on a page of its own, never kept
                same_origin(request)
                form = await request.form(max_files=0, max_fields=50)
                sessions.check_csrf(session.csrf, form.get("csrf"))
            except TeamTableError as error:
                return await ui.refusal(request, session, error)
            try:
                return await handler(ui, request, session, form)
            except TeamTableError as error:
                return await ui.refused(request, session, error, form)

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
