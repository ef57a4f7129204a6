"""The dashboard: /ui on the network hub, for the people at the table (members holding person, lead or admin).

Server-rendered pages (Jinja2, autoescaped) that work as plain links and forms; a small script of the package's
own keeps them live from the dashboard's push stream (/ui/events: one per browser, shared by its tabs), swapping
in only the parts of a page that changed.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from team_table.ui import actions, pages, stream
from team_table.ui.web import HERE, Dashboard, StaticFiles


def routes(ui: Dashboard) -> list[BaseRoute]:
    get, post = ["GET", "HEAD"], ["POST"]
    return [
        Route("/ui", pages.needs_you(ui), methods=get),
        Route("/ui/signin", actions.signin_page(ui), methods=get),
        Route("/ui/signin", actions.signin(ui), methods=post),
        Route("/ui/signout", actions.signout(ui), methods=post),
        Route("/ui/events", stream.events_page(ui), methods=["GET"]),
        Route("/ui/escalations/{escalation_id}/resolve", actions.resolve(ui), methods=post),
        Route("/ui/questions/{question_id}/answer", actions.answer(ui), methods=post),
        Route("/ui/board", pages.board_page(ui), methods=get),
        Route("/ui/tasks/{task_id}", pages.task_page(ui), methods=get),
        Route("/ui/tasks/{task_id}/comment", actions.comment(ui), methods=post),
        Route("/ui/tasks/{task_id}/reassign", actions.reassign(ui), methods=post),
        Route("/ui/tasks/{task_id}/cancel", actions.cancel(ui), methods=post),
        Route("/ui/tasks/{task_id}/reopen", actions.reopen(ui), methods=post),
        Route("/ui/tasks/{task_id}/review", actions.review(ui), methods=post),
        Route("/ui/team", pages.team(ui), methods=get),
        Route("/ui/team/{name}/revoke", pages.revoke_confirm(ui), methods=get),
        Route("/ui/team/{name}/revoke", actions.revoke(ui), methods=post),
        Route("/ui/team/{name}/readmit", actions.readmit(ui), methods=post),
        Route("/ui/messages", pages.messages_page(ui), methods=get),
        Route("/ui/messages", actions.compose(ui), methods=post),
        Route("/ui/workflows", pages.workflows_page(ui), methods=get),
        Route("/ui/audit", pages.audit_page(ui), methods=get),
        Mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static"),
    ]
