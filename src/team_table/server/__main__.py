"""`python -m team_table.server`: the same as `team-table up` with no flags."""

from team_table.cli import main

if __name__ == "__main__":
    main(["up"], prog_name="team-table")
