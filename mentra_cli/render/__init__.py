"""The only place that writes for people (stderr) or machines (stdout)."""
