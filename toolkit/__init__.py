"""toolkit: submit, watch and analyse asynchronous media-analysis jobs from Jupyter.

import toolkit as tk
ws = tk.Workspace()                  # sandbox when no API key is configured
b = ws.animaldetect.detect("data/camera_traps/")
b.wait(); df = b.detections(); tk.plot.boxes(...)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Workspace": ("toolkit.workspace", "Workspace"),
    "Status": ("toolkit.client.model", "Status"),
    "Job": ("toolkit.client.model", "Job"),
    "Batch": ("toolkit.client.batch", "Batch"),
    "JobError": ("toolkit.client.model", "JobError"),
    "PreflightError": ("toolkit.client.model", "PreflightError"),
    "ToolkitError": ("toolkit.client.model", "ToolkitError"),
    "ConfigurationError": ("toolkit.client.model", "ConfigurationError"),
    "BatchTimeout": ("toolkit.client.model", "BatchTimeout"),
    "UnknownBatch": ("toolkit.client.model", "UnknownBatch"),
    "WrongLoader": ("toolkit.client.model", "WrongLoader"),
    "InvalidOption": ("toolkit.client.model", "InvalidOption"),
    "RejectedInputs": ("toolkit.client.model", "RejectedInputs"),
    "PaidAgain": ("toolkit.client.plan", "PaidAgain"),
    "Plan": ("toolkit.client.plan", "Plan"),
    "UnsettledBatch": ("toolkit.client.model", "UnsettledBatch"),
    "NoResults": ("toolkit.client.model", "NoResults"),
    "options_of": ("toolkit.client.options", "options_of"),
    "LedgerError": ("toolkit.client.ledger", "LedgerError"),
    "DiskFullError": ("toolkit.client.cache", "DiskFullError"),
    "Sandbox": ("toolkit.sandbox", "Sandbox"),
    "load": ("toolkit.load", None),
    "plot": ("toolkit.plot", None),
    "widgets": ("toolkit.widgets", None),
}
__all__ = ["__version__", *_LAZY]


#: public submodules the README names by their dotted path (``toolkit.provenance.environment()``)
_SUBMODULES = ("provenance",)


def __getattr__(name: str) -> Any:
    """Import the public surface on first use, so ``import toolkit`` stays fast."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value


def __dir__() -> list[str]:
    """What Tab offers on ``tk.``: the public surface, not this module's imports."""
    return sorted({"__version__", *_LAZY, *_SUBMODULES})
