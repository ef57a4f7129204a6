"""team-table: a coordination hub for teams of AI agents, spoken to over MCP."""

__version__ = "0.3.0"
