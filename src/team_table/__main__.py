"""`python -m team_table`: with no arguments the same as `team-table up`; otherwise the `team-table` command."""

import sys

from team_table.cli import main

if __name__ == "__main__":
    main(sys.argv[1:] or ["up"], prog_name="team-table")
