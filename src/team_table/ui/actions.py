"""The dashboard's actions (POST forms), each the same domain call as the matching tool, made as the signed-in
person: authorized by its roles, rate-limited and audited as that member. Signing in and out is here too."""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from team_table import comments, escalations, limits, members, messages, questions, reviews, revocations, tasks
from team_table.delivery import BROADCAST
from team_table.errors import Invalid, TeamTableError, Unauthorized
from team_table.names import HUB_SENDER
from team_table.server import refusals
from team_table.task_states import S
from team_table.ui import sessions
from team_table.ui.sessions import Session
from team_table.ui.web import HEADERS, Dashboard, action, path_id, safe_next, same_origin, signed_out, text


def _then(form: FormData, default: str) -> str:
    """Where the person goes after an action: the page the form names (`back`), else `default`."""
    named = text(form, "back")
    return safe_next(named) if named else default


@action
async def resolve(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    escalation = path_id(request, "escalation_id")
    decided = await ui.run(lambda: escalations.resolve(ui.hub.pinned(), session.caller, escalation,
                                                       text(form, "note")))
    told = sorted({decided.sender, decided.agent} - {HUB_SENDER})
    said = f"{' and '.join(told)} got your decision." if told else "it was the hub's own: nobody to tell."
    return await ui.done(session, "/ui", f"Escalation {escalation} resolved; {said}")


@action
async def answer(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    question = path_id(request, "question_id")
    done = await ui.run(lambda: questions.answer(ui.hub.pinned(), session.caller, question, text(form, "answer")))
    asker = done.asker if done.asker != HUB_SENDER else (done.details or {}).get("agent", "the agent")
    return await ui.done(session, _then(form, "/ui"), f"Question {question} answered ({done.answer}); {asker} has "
                                                      "your answer in the question's thread.")


@action
async def comment(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    task = path_id(request, "task_id")
    await ui.run(lambda: comments.comment(ui.hub.pinned(), session.caller, task, text(form, "text")))
    return await ui.done(session, _then(form, f"/ui/tasks/{task}"), "Comment added; the task's people were told.")


@action
async def reassign(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    task, assignee = path_id(request, "task_id"), text(form, "assignee")
    await ui.run(lambda: tasks.reassign(ui.hub.pinned(), session.caller, task, assignee))
    return await ui.done(session, _then(form, f"/ui/tasks/{task}"), f"Task {task} is now {assignee}'s; "
                                                                    f"{assignee} was told.")


@action
async def cancel(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    task = path_id(request, "task_id")
    if text(form, "confirm") != "yes":
        raise Invalid(f"Tick the box to confirm cancelling task {task} and its subtasks.")
    cancelled = await ui.run(lambda: tasks.cancel(ui.hub.pinned(), session.caller, task))
    return await ui.done(session, _then(form, f"/ui/tasks/{task}"), f"Cancelled {len(cancelled)} task(s).")


@action
async def reopen(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    task = path_id(request, "task_id")
    await ui.run(lambda: tasks.update(ui.hub.pinned(), session.caller, task, S.PENDING, reason=text(form, "reason")))
    return await ui.done(session, _then(form, f"/ui/tasks/{task}"), f"Task {task} is pending again.")


@action
async def review(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    task, verdict = path_id(request, "task_id"), text(form, "verdict")
    if verdict not in ("approve", "rework"):
        raise Invalid("Choose approve or send back (rework).")
    await ui.run(lambda: reviews.review(ui.hub.pinned(), session.caller, task, verdict == "approve",
                                        text(form, "note")))
    said = "Approved." if verdict == "approve" else "Sent back to its author."
    return await ui.done(session, _then(form, f"/ui/tasks/{task}"), said)


@action
async def revoke(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    name = request.path_params["name"]
    count = await ui.run(lambda: revocations.revoke_as(ui.hub.pinned(), session.caller, name))
    return await ui.done(session, "/ui/team", f"Revoked {count} token(s) of {name}; {name} has left the table and "
                                              "stays out until a person lets it back in.")


@action
async def readmit(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    name = request.path_params["name"]
    then = await ui.run(lambda: revocations.readmit_as(ui.hub.pinned(), session.caller, name))
    return await ui.done(session, "/ui/team", f"{name} may come back. {then}")


@action
async def compose(ui: Dashboard, request: Request, session: Session, form: FormData) -> Response:
    to, content = text(form, "to").strip(), text(form, "content")
    reply_to = text(form, "reply_to").strip()
    answer_to = limits.whole(reply_to, "reply_to") if reply_to else None
    hub, caller = ui.hub.pinned(), session.caller
    if to == BROADCAST:
        sent = [await ui.run(lambda: messages.broadcast(hub, caller, content, answer_to))]
    elif to.startswith("role:"):
        sent = await ui.run(lambda: messages.send_to_role(hub, caller, to.removeprefix("role:"), content))
    elif to:
        sent = [await ui.run(lambda: messages.send(hub, caller, to, content, answer_to))]
    else:
        raise Invalid("Choose who the message is for: a member, a role, or everyone.")
    back = f"/ui/messages?thread={sent[0].thread_id or sent[0].id}" if len(sent) == 1 else "/ui/messages"
    who = "everyone" if to == BROADCAST else to.replace("role:", "every ") if to.startswith("role:") else to
    return await ui.done(session, back, f"Sent to {who} ({len(sent)} message{'s' if len(sent) > 1 else ''}).")


# Signing in and out


def signin_page(ui: Dashboard):
    async def endpoint(request: Request) -> Response:
        if await ui.session(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), 303, headers=HEADERS)
        token = secrets.token_urlsafe(24)
        response = await ui.render(request, "signin.html", None, form_csrf=sessions.masked(token),
                                   next=safe_next(request.query_params.get("next")), error="")
        response.set_cookie(sessions.SIGNIN_COOKIE, token, max_age=3600, path="/ui/signin", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        return response

    return endpoint


def signin(ui: Dashboard):
    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        client = request.client.host if request.client else "-"
        target = safe_next(text(form, "next"))
        try:
            same_origin(request)
            sessions.check_csrf(request.cookies.get(sessions.SIGNIN_COOKIE, ""), form.get("csrf"))
            token = text(form, "token").strip()
            name = await ui.run(lambda: members.identify(ui.hub.pinned(), token))
            if name is None:  # a guess at a token: counted towards the address's sign-in limit
                raise ui.signins.refused("/ui", client, Unauthorized(
                    "That token is not valid (revoked, or never issued). Mint one with `team-table token NAME` and "
                    "declare its hash in team.yaml."))
            session_id, _ = await ui.run(lambda: sessions.open_session(ui.hub.pinned(), name, token,
                                                                       f"Signed in as {name}."))
        except TeamTableError as error:
            return await _signin_again(ui, request, target, error.message, refusals.status(error))
        response = RedirectResponse(target, 303, headers=HEADERS)
        response.set_cookie(sessions.COOKIE, session_id, max_age=int(sessions.LIFETIME.total_seconds()), path="/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
        response.delete_cookie(sessions.SIGNIN_COOKIE, path="/ui/signin")
        return response

    return endpoint


async def _signin_again(ui: Dashboard, request: Request, target: str, error: str, status: int) -> Response:
    token = request.cookies.get(sessions.SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    response = await ui.render(request, "signin.html", None, status, form_csrf=sessions.masked(token), next=target,
                               error=error)
    response.set_cookie(sessions.SIGNIN_COOKIE, token, max_age=3600, path="/ui/signin", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


def signout(ui: Dashboard):
    async def endpoint(request: Request) -> Response:
        session = await ui.session(request)
        if session is not None:
            form = await request.form(max_files=0, max_fields=10)
            try:
                sessions.check_csrf(session.csrf, form.get("csrf"))
            except TeamTableError as error:
                return await ui.refusal(request, session, error)
            await ui.run(lambda: sessions.close(ui.hub.pinned(), request.cookies.get(sessions.COOKIE)))
        return signed_out(request, come_back=False)

    return endpoint
