"""Rate limiters: GCRA in Redis (shared by every process) and in memory (one process)."""
