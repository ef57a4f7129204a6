"""An event kind outside the catalogue, for tests of the store and the streams that carry any event: what such a test
writes is a note no agent's tool reads, so it never meets a payload check (event_kinds.PAYLOADS)."""

from __future__ import annotations

from typing import cast

from team_table.event_kinds import EventKind

NOTE = cast(EventKind, "note")  # not an EventKind member, on purpose
