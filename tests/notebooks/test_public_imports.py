"""The notebooks import only the public surface: no private module, and every name they import exists."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
PRIVATE = {"toolkit.widgets.labels", "toolkit.widgets.notice"}  # internals of the widgets package
IMPORT = re.compile(r"^\s*from (toolkit[\w.]*) import ([\w, ]+)|^\s*import (toolkit[\w.]*)", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_public_modules_only(path):
    source = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    for m in IMPORT.finditer(source):
        module = m.group(1) or m.group(3)
        assert module not in PRIVATE and not any(p.startswith("_") for p in module.split(".")), module
        for name in (m.group(2) or "").replace(" ", "").split(","):
            if name:
                assert not name.startswith("_") and hasattr(importlib.import_module(module), name), (module, name)
