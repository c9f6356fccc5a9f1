"""One module per command; each is a thin call into one runtime operation."""
