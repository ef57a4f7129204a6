"""When the hub starts an agent again. After a failure: a backoff that doubles (the agent's lease kept meanwhile),
until too many failures within the window make it stop and ask a person. After runs that end well with the same work
still waiting: again, up to max_reruns in a row, then a person is asked. After a person's stop: only for new work.

Kept in the memory of one hub process, per agent, beside the runs it supervises (supervisor.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from team_table.runner.config import Restart, RunSpec

HELD = 1 << 30  # the count of reruns after a person's stop: past any bound, so the same work never restarts it


@dataclass
class Rerun:
    """Runs of an agent in a row that ended well with the same work still waiting (a bound stops the loop)."""

    fingerprint: frozenset[str]
    count: int
    escalated: bool = False


def backoff(restart: Restart, failures: int) -> float | None:
    """The wait before the next try after `failures` failures within the window; None: stop trying, ask a person."""
    if failures >= restart.max_failures:
        return None
    return min(restart.max_backoff_seconds, restart.backoff_seconds * 2 ** (failures - 1))


class Restarts:
    """Per agent: the monotonic time before which it is not started, whether its lease is kept for a backoff, and its
    reruns with the same work."""

    def __init__(self) -> None:
        self.next_try: dict[str, float] = {}
        self.holding: set[str] = set()  # agents whose lease this process keeps between runs (backing off)
        self.reruns: dict[str, Rerun] = {}

    def waits(self, name: str, now: float) -> bool:
        """Whether `name` is not to be started yet (backing off, or another hub held it a moment ago)."""
        return self.next_try.get(name, 0.0) > now

    def backoff_over(self, name: str, now: float) -> bool:
        """Whether the lease kept for `name`'s backoff may go: its wait is over."""
        return name in self.holding and not self.waits(name, now)

    def due(self, now: float) -> list[float]:
        """The ends of the waits still to come."""
        return [moment for moment in self.next_try.values() if moment > now]

    def try_at(self, name: str, moment: float) -> None:
        self.next_try[name] = moment

    def back_off(self, name: str, moment: float) -> None:
        """Its run failed: not started before `moment`, its lease kept until then."""
        self.next_try[name] = moment
        self.holding.add(name)

    def started(self, name: str) -> None:
        self.next_try.pop(name, None)
        self.holding.discard(name)

    def let_go(self, name: str) -> None:
        """Its kept lease is given up (or was lost): no wait, nothing kept."""
        self.holding.discard(name)
        self.next_try.pop(name, None)

    def gave_up(self, name: str) -> None:
        """Too many failures: a person is asked; nothing is kept for it."""
        self.holding.discard(name)

    def exited(self, name: str, fingerprint: frozenset[str], run: RunSpec, now: float) -> None:
        """Its run ended well with `fingerprint` waiting: one more rerun of that work (a run that always runs waits
        its first backoff before the next)."""
        previous = self.reruns.get(name)
        same = previous if previous is not None and previous.fingerprint == fingerprint else None
        self.reruns[name] = Rerun(fingerprint, same.count + 1 if same else 1, same.escalated if same else False)
        if run.start == "always":
            self.next_try[name] = now + run.restart.backoff_seconds

    def held(self, name: str, fingerprint: frozenset[str]) -> None:
        """A person stopped its run: the work that waited then does not start it again."""
        self.reruns[name] = Rerun(fingerprint, HELD, escalated=True)

    def past_bound(self, name: str, fingerprint: frozenset[str], run: RunSpec) -> Rerun | None:
        """Its reruns, if they passed the bound with this same work waiting (then it is not started); a change of
        work forgets them."""
        rerun = self.reruns.get(name)
        if rerun is not None and rerun.fingerprint != fingerprint:
            del self.reruns[name]
        elif rerun is not None and run.start == "on_work" and rerun.count > run.restart.max_reruns:
            return rerun
        return None
