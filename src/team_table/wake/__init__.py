"""How an agent is reached while its session sits idle: the ways (a Claude Code session's socket, a monitor or a
waiting hook connected to the hub, a channel note, a push stream) and the waker that uses one per delivery."""
