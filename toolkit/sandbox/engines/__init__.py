"""Real, simple algorithms that compute sandbox results from the bytes received (never from names)."""
