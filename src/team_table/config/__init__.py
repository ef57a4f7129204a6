"""team.yaml: the team, its roles, its limits and the hub's settings, as frozen models.

A module per top-level section: hub, roles, agents, limits, escalation, presence, reservations, notifications;
`delivery:` is delivery_policy.py, `runner:` and an agent's `run:` are runner/config.py (each built on
config_base.Frozen). The whole file, its checks across sections and its loading are team.py.
"""

from team_table.config.team import EMPTY_TEAM, Team, load_team, parse_team

__all__ = ["EMPTY_TEAM", "Team", "load_team", "parse_team"]
