"""One module per provider contract (see shared/contracts.md); each exposes ``SPEC``."""
