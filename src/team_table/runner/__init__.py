"""The hub runs its declared team: agents with `run:` in team.yaml are started when work waits for them,
supervised (output, states, restarts with backoff, stalls, caps, wall time) and stopped with the hub.

config: the `run:` and `runner:` models of team.yaml; work: what waits for an agent; keeper: the small process
that holds each run's process group; processes: starting and stopping one run; presets: claude, codex and gemini;
folders: working folders and git worktrees; runs: the database side of runs, states and tokens; leases: which
replica runs an agent; supervisor: the loop that decides; live: one run in memory; runs_here: driving each run from
its start to its end; restarts: when an agent starts again (backoff, reruns).

Nothing here is imported by the domain; the network hub enters `supervisor.supervising` on its exit stack.
"""
