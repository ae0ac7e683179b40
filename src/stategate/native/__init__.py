"""Native helpers: the hot loops that Python cannot run fast enough."""
