"""The database side of the runs: a run begins (caps, lease, token and record in one transaction), is noted as it
goes, and ends (token revoked); each agent's state is kept and announced as an `agent_run` event (to the hub's own
name: dashboards see it, agents' streams do not); the session a preset resumes is kept per agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from team_table import audit, escalations, events, member_tokens, members, tokens
from team_table.clock import iso
from team_table.event_kinds import AgentRun, K
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.runner import leases, work
from team_table.runner.leases import Owner
from team_table.store import Tx, placeholders

GAVE_UP = "run_failed"  # the escalation rule when the hub stops trying to run an agent
STALLED = "run_stalled"
RERUNS = "run_reruns"


class AgentState(StrEnum):
    STARTING = "starting"  # started; no output and no tool call yet
    WORKING = "working"  # running, with work waiting for it
    IDLE = "idle"  # running, nothing waits for it (or not running, and nothing waits)
    EXITED = "exited"  # its last run ended well
    FAILED = "failed"  # its last run failed (and, if detail says so, the hub stopped trying)
    BACKING_OFF = "backing off"  # waits before the next try


class Outcome(StrEnum):
    EXITED = "exited"  # exit code 0
    FAILED = "failed"  # non-zero, killed, stalled, out of time, could not start
    STOPPED = "stopped"  # the hub stopped it (shutdown, run: removed, a person asked)
    LEFT = "left"  # its hub went away without ending it


@dataclass(frozen=True)
class Begun:
    run_id: int
    token: str = field(repr=False)
    session: str | None  # the preset's session to resume, if any
    left: list[Any] = field(default_factory=list)  # earlier runs of the agent a hub that went away left open


def begin(hub: Hub, owner: Owner, agent: str, items: list[work.Item], client: str | None) -> Begun | str:
    """Start a run's record, if the caps and the lease allow: in one transaction, the agent seated with a token
    minted for this run, what waited marked surfaced, the state `starting` announced. Else why not."""
    team = hub.team
    spec = team.agents[agent]
    now, stamp = hub.now(), hub.clock.now().timestamp()
    with hub.store.write() as conn:
        conn.lock("runner")  # the caps count every replica's runs: one start at a time is judged against them
        running = {row[0] for row in conn.execute("SELECT agent FROM agent_run WHERE ended_at IS NULL")}
        leases.drop_gone(conn, owner.host)  # a hub of this machine that died holds nothing
        held = leases.live(conn, stamp)
        if held.get(agent, owner.id) != owner.id:
            return "another hub runs it"
        running.discard(agent)  # a run left open by a hub that went away is closed below
        if len(running) >= team.runner.max_running:
            return f"waits for a free slot (runner.max_running = {team.runner.max_running})"
        for role in spec.all_roles:
            cap = team.runner.max_running_per_role.get(role)
            if cap is not None and sum(role in _roles(hub, other) for other in running) >= cap:
                return f"waits for a free slot (runner.max_running_per_role.{role} = {cap})"
        if not leases.take(conn, agent, owner.id, stamp):
            return "another hub runs it"
        left = close_left(conn, hub, agent, now, "its hub went away without ending it")
        token = members.seat_for_run(conn, hub, agent, now)
        run_id = conn.execute(
            "INSERT INTO agent_run (agent, owner, host, started_at, token_hash) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (agent, owner.id, owner.host, now, tokens.digest(token))).fetchone()[0]
        work.mark_surfaced(conn, hub, agent, items, run_id=run_id, via="run")
        session = conn.execute("SELECT session_id FROM agent_state WHERE agent = ? AND session_client = ?",
                               (agent, client)).fetchone() if client else None
        _state(conn, agent, AgentState.STARTING, now, owner, run_id, ", ".join(item.key for item in items) or None)
        audit.record(conn, now, HUB_SENDER, "run_start", "member", agent,
                     {"run": run_id, "waiting": [item.key for item in items]})
    return Begun(run_id, token, session[0] if session else None, [row for row in left if row["host"] == owner.host])


def _roles(hub: Hub, agent: str) -> tuple[str, ...]:
    spec = hub.team.agents.get(agent)
    return spec.all_roles if spec is not None else ()


def started(hub: Hub, run_id: int, pid: int, pgid: int | None, proc_start: str | None, output: str) -> None:
    """The run's process is up: what a hub starting later needs to find it (and end it)."""
    with hub.store.write() as conn:
        conn.execute("UPDATE agent_run SET pid = ?, pgid = ?, proc_start = ?, output = ? WHERE id = ?",
                     (pid, pgid, proc_start, output, run_id))


def note_output(hub: Hub, run_id: int, line: str, at: str, session: str | None) -> None:
    with hub.store.write() as conn:
        conn.execute("UPDATE agent_run SET last_line = ?, last_output_at = ?, session_id = COALESCE(?, session_id)"
                     " WHERE id = ?", (line[:500], at, session, run_id))


def end(hub: Hub, owner: Owner, agent: str, run_id: int, outcome: Outcome, exit_code: int | None, reason: str,
        *, state: AgentState, detail: str | None, last_line: str, session: tuple[str, str | None] | None,
        keep_lease: bool) -> None:
    """The run is over: its record closed, its token revoked, the session kept for the next run, the state set."""
    now = hub.now()
    with hub.store.write() as conn:
        conn.execute("UPDATE agent_run SET ended_at = ?, outcome = ?, exit_code = ?, reason = ?, last_line = ?,"
                     " session_id = COALESCE(?, session_id) WHERE id = ? AND ended_at IS NULL",
                     (now, outcome.value, exit_code, reason, last_line[:500], session[1] if session else None,
                      run_id))
        member_tokens.revoke(conn, agent, now, member_tokens.RUN)
        if session is not None:
            conn.execute("UPDATE agent_state SET session_client = ?, session_id = ? WHERE agent = ?",
                         (*session, agent))
        _state(conn, agent, state, now, owner, run_id, detail)
        if not keep_lease:
            leases.release(conn, agent, owner.id)
        audit.record(conn, now, HUB_SENDER, "run_end", "member", agent,
                     {"run": run_id, "outcome": outcome.value, "exit_code": exit_code, "reason": reason})


def set_state(hub: Hub, owner: Owner, agent: str, state: AgentState, detail: str | None, *,
              run_id: int | None = None, release: bool = False) -> None:
    """Set (and announce) an agent's state; and give up its lease, if asked. A state of a live run (`run_id`) is
    set only while that run is open: its end sets the state it ended in, which a look at the run taken just before
    it ended must not undo."""
    now = hub.now()
    with hub.store.write() as conn:
        if run_id is not None and not conn.execute(
                "SELECT 1 FROM agent_run WHERE id = ? AND ended_at IS NULL", (run_id,)).fetchall():
            return
        _state(conn, agent, state, now, owner, run_id, detail)
        if release:
            leases.release(conn, agent, owner.id)


def _state(conn: Tx, agent: str, state: AgentState, now: str, owner: Owner, run_id: int | None,
           detail: str | None) -> None:
    conn.execute(
        "INSERT INTO agent_state (agent, state, since, run_id, detail) VALUES (?, ?, ?, ?, ?) ON CONFLICT(agent)"
        " DO UPDATE SET state = excluded.state, since = excluded.since, run_id = COALESCE(excluded.run_id,"
        " agent_state.run_id), detail = excluded.detail", (agent, state.value, now, run_id, detail))
    events.emit(conn, now, K.AGENT_RUN, AgentRun(agent=agent, state=state.value, run=run_id, detail=detail,
                                                 owner=owner.id), to=HUB_SENDER)


def close_left(conn: Tx, hub: Hub, agent: str, now: str, why: str) -> list[Any]:
    """Close the runs of `agent` still open in the database (their hub went away), and revoke their tokens.
    Returns their rows (a hub on the same machine ends what is left of their processes)."""
    rows = conn.execute("UPDATE agent_run SET ended_at = ?, outcome = ?, reason = ? WHERE agent = ? AND"
                        " ended_at IS NULL RETURNING *", (now, Outcome.LEFT.value, why, agent)).fetchall()
    member_tokens.revoke(conn, agent, now, member_tokens.RUN)
    return rows


def take_over_left(hub: Hub, owner: Owner) -> list[Any]:
    """Runs whose hub went away (their lease expired, or is this host's from a process that is gone): closed, their
    tokens revoked, their agents' leases freed. Returns the closed rows of this host (their processes are ended).
    Reads first: with nothing left behind (the usual case), nothing is written."""
    now, stamp = hub.now(), hub.clock.now().timestamp()
    if not any(_left_behind(lambda sql, params=(): hub.store.query(sql, params), owner, stamp)):
        return []
    closed: list[Any] = []
    with hub.store.write() as conn:
        conn.lock("runner")
        leases.drop_gone(conn, owner.host)
        runs_left, tokens_left = _left_behind(lambda sql, params=(): conn.execute(sql, params).fetchall(), owner,
                                              stamp)
        for agent in runs_left:
            closed += close_left(conn, hub, agent, now, "its hub went away without ending it")
        for agent in tokens_left:  # minted for a run no live hub holds any more
            member_tokens.revoke(conn, agent, now, member_tokens.RUN)
    return [row for row in closed if row["host"] == owner.host]


def _left_behind(rows: Any, owner: Owner, stamp: float) -> tuple[list[str], list[str]]:
    """Agents with a run open that no live hub holds (but this one), and agents with a live run token no live hub
    holds: what a hub that went away left."""
    held = {row[0]: row[1] for row in rows("SELECT agent, owner, until FROM agent_lease")
            if row[2] >= stamp and not leases.gone(row[1], owner.host)}
    runs_left = sorted({row[0] for row in rows("SELECT agent, owner FROM agent_run WHERE ended_at IS NULL")
                        if held.get(row[0]) in (None, owner.id) and row[1] != owner.id})
    tokens_left = [agent for agent in member_tokens.run_token_holders(rows) if agent not in held]
    return runs_left, tokens_left


def blocked(hub: Hub, agents: list[str]) -> dict[str, str]:
    """Agents the hub stopped trying to run (an open escalation of its own about them): agent -> rule."""
    if not agents:
        return {}
    return {row[0]: row[1] for row in hub.store.query(
        f"SELECT agent, rule FROM escalation WHERE status = 'open' AND sender = ? AND rule IN (?, ?)"
        f" AND agent IN ({placeholders(agents)})", (HUB_SENDER, GAVE_UP, RERUNS, *agents))}


def recent_failures(hub: Hub, agent: str, window_seconds: float) -> int:
    """The agent's failed runs in the last `window_seconds`, since a person last let it try again."""
    since = iso(hub.clock.now() - timedelta(seconds=window_seconds))
    last = escalation_of(hub, agent, GAVE_UP)
    if last is not None and last["resolved_at"] and last["resolved_at"] > since:
        since = last["resolved_at"]
    rows = hub.store.query("SELECT COUNT(*) FROM agent_run WHERE agent = ? AND outcome = ? AND ended_at >= ?",
                           (agent, Outcome.FAILED.value, since))
    return rows[0][0]


def escalation_of(hub: Hub, agent: str, rule: str) -> Any | None:
    """The latest escalation of `rule` the hub raised about `agent`, if any."""
    rows = hub.store.query("SELECT id, status, at, resolved_at FROM escalation WHERE agent = ? AND rule = ? AND"
                           " sender = ? ORDER BY id DESC LIMIT 1", (agent, rule, HUB_SENDER))
    return rows[0] if rows else None


def escalate(hub: Hub, owner: Owner, agent: str, rule: str, reason: str, *, state: AgentState | None = None,
             detail: str | None = None, release: bool = False) -> int:
    """Ask a person (the people escalation.notify names) about a run, with `reason`; optionally set the state."""
    now = hub.now()
    with hub.store.write() as conn:
        escalation = escalations.escalate(conn, hub, None, HUB_SENDER, agent, rule, hub.team.escalation.notify, now,
                                          reason=reason)
        if state is not None:
            _state(conn, agent, state, now, owner, None, detail)
        if release:
            leases.release(conn, agent, owner.id)
    return escalation


def requests(hub: Hub) -> dict[str, str]:
    """Starts and stops a person asked for (`team-table agents start|stop NAME`), not yet acted on."""
    return {row[0]: row[1] for row in hub.store.query(
        "SELECT agent, requested FROM agent_state WHERE requested IS NOT NULL")}


def request(hub: Hub, agent: str, what: str | None, actor: str) -> None:
    """Ask the hub that runs `agent` to start or stop it (None: the request was acted on)."""
    now = hub.now()
    with hub.store.write() as conn:
        conn.execute("INSERT INTO agent_state (agent, state, since, requested) VALUES (?, ?, ?, ?) ON CONFLICT(agent)"
                     " DO UPDATE SET requested = excluded.requested", (agent, AgentState.IDLE.value, now, what))
        if what is not None:
            audit.record(conn, now, actor, f"run_{what}_asked", "member", agent)
            events.emit(conn, now, K.AGENT_RUN, AgentRun(agent=agent, requested=what), to=HUB_SENDER)


@dataclass(frozen=True)
class AgentView:
    """An agent the hub runs, as `team-table agents` and the Team page show it."""

    agent: str
    state: str
    since: str | None
    detail: str | None
    run_id: int | None
    started_at: str | None
    ended_at: str | None
    outcome: str | None
    pid: int | None
    last_line: str | None
    last_output_at: str | None
    surfaced: list[dict] = field(default_factory=list)


def listing(hub: Hub) -> list[AgentView]:
    """Every agent with `run:` in the config in force, with its state and its current (or last) run."""
    team = hub.team
    names = sorted(name for name, spec in team.agents.items() if spec.run is not None)
    rows = {row["agent"]: row for row in hub.store.query(
        "SELECT s.agent, s.state, s.since, s.detail, r.id AS run_id, r.started_at, r.ended_at, r.outcome, r.pid,"
        " r.last_line, r.last_output_at, r.surfaced FROM agent_state s LEFT JOIN agent_run r ON r.id = s.run_id")}
    found = []
    for name in names:
        row = rows.get(name)
        if row is None:
            found.append(AgentView(name, AgentState.IDLE.value, None, "not started yet", None, None, None, None,
                                   None, None, None))
            continue
        surfaced = json.loads(row["surfaced"]).get("items", []) if row["surfaced"] else []
        found.append(AgentView(name, row["state"], row["since"], row["detail"], row["run_id"], row["started_at"],
                               row["ended_at"], row["outcome"], row["pid"], row["last_line"], row["last_output_at"],
                               surfaced))
    return found
