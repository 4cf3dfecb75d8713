"""The embedded sandbox: a local HTTP server speaking the five provider contracts.

``Sandbox`` runs it in-process on a free port; ``python -m toolkit sandbox`` runs it as a process.
"""

from .config import DEMO_KEYS, PROVIDERS, SandboxConfig, Tenant
from .server import Sandbox, serve

__all__ = ["DEMO_KEYS", "PROVIDERS", "Sandbox", "SandboxConfig", "Tenant", "serve"]
