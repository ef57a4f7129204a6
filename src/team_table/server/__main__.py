"""`python -m team_table.server`: the same as `team-table up` (its flags too: `--help` prints its help)."""

import sys

from team_table.cli import main

if __name__ == "__main__":
    main(["up", *sys.argv[1:]], prog_name="team-table")
