"""The embedded sandbox: a local HTTP server speaking the five provider contracts.

``Sandbox`` runs it in-process on a free port; ``python -m toolkit sandbox`` runs it as a process. Each provider
is described by a ``ProviderSpec`` in its own module (``providers/``); another provider is served with
``SandboxConfig(extra_providers=[spec])`` or, process-wide, ``register(spec)``.

Every behaviour follows ``docs/contracts.md``; where the public docs are silent the sandbox makes a **project
choice**, marked "PC" in comments and in the contract notes (clients tolerate it but never rely on it).
"""

from . import providers  # noqa: F401  (registers the built-in providers first)
from .config import SandboxConfig, Tenant
from .server import Sandbox, serve
from .spec import ApiError, BodyLimit, ProviderSpec, register, registered, unregister

__all__ = [
    "DEMO_KEYS",
    "PROVIDERS",
    "ApiError",
    "BodyLimit",
    "ProviderSpec",
    "Sandbox",
    "SandboxConfig",
    "Tenant",
    "register",
    "registered",
    "serve",
    "unregister",
]


def __getattr__(name: str) -> object:
    """``PROVIDERS`` and ``DEMO_KEYS``: views of the registered providers (see ``config``)."""
    if name in ("PROVIDERS", "DEMO_KEYS"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
