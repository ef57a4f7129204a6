"""Sending one digest through Apprise (imported only by a hub with notification targets)."""

from __future__ import annotations

import logging

log = logging.getLogger("team_table.notify")


def send(urls: list[str], title: str, body: str) -> str | None:
    """Send to every URL; None when all took it, else what went wrong (Apprise logs the details)."""
    import apprise

    sender = apprise.Apprise()
    for url in urls:
        if not sender.add(url):
            return "an Apprise URL was not understood (check its scheme and form)"
    try:
        ok = sender.notify(title=title, body=body)
    except Exception as exc:  # a plugin's own failure: never the action's
        log.exception("a notification target raised while sending")
        return f"{type(exc).__name__}: {exc}"
    return None if ok else "a target refused it or could not be reached"
