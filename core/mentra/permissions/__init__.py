"""Policy (the hard fence) and permissions (the per-call decision)."""
