"""Notifications outside the dashboard: what on the table is worth telling the people (items), gathered into
digests per target of team.yaml's `notifications:` and sent through Apprise, off the path of the action that
caused them."""
