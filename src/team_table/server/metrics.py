"""Prometheus metrics of one hub process, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tool_calls = Counter("team_table_tool_calls", "Tool calls, by tool and outcome (ok or refusal code).",
                                  ["tool", "outcome"], registry=self.registry)
        self.tool_seconds = Histogram("team_table_tool_duration_seconds", "Time to answer a tool call.",
                                      ["tool"], buckets=BUCKETS, registry=self.registry)
        self.rate_limited = Counter("team_table_rate_limited", "Writes refused by the rate limit.",
                                    registry=self.registry)
        self.auth_failures = Counter("team_table_auth_failures", "Failed authentications over HTTP.",
                                     ["route"], registry=self.registry)
        self.streams = Gauge("team_table_event_streams", "Open /events streams.", registry=self.registry)
        self.job_runs = Counter("team_table_job_runs", "Scheduled job runs, by job and result.", ["job", "result"],
                                registry=self.registry)
        self.notifications = Counter("team_table_notifications", "Notification digests to team.yaml's targets, by "
                                     "result (sent, failed: retried later, dropped: given up).", ["result"],
                                     registry=self.registry)
        self._children: dict[tuple[str, str], tuple] = {}
        self.config_reloads = Counter("team_table_config_reloads", "Config reloads, by result.", ["result"],
                                      registry=self.registry)

    def observe_tool(self, tool: str, outcome: str, seconds: float) -> None:
        children = self._children.get((tool, outcome))
        if children is None:  # labels() validates and locks: done once per tool and outcome
            children = self._children[(tool, outcome)] = (self.tool_calls.labels(tool, outcome),
                                                          self.tool_seconds.labels(tool))
        children[0].inc()
        children[1].observe(seconds)
        if outcome == "rate_limited":
            self.rate_limited.inc()

    def observe_job(self, job: str, result: str) -> None:
        self.job_runs.labels(job, result).inc()

    def observe_notification(self, result: str) -> None:
        if result != "waiting":
            self.notifications.labels(result).inc()

    def observe_reload(self, result: str) -> None:
        self.config_reloads.labels(result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
