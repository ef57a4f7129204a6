"""The MCP face of the hub: a thin tool layer over the domain, on the official SDK's low-level Server."""

from team_table.server.app import build_server

__all__ = ["build_server"]
