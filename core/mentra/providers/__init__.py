"""Model providers behind one neutral `Provider` protocol (see `base`)."""
