"""One status vocabulary: every loader's status column has the same categories, so frames concatenate as such."""

from __future__ import annotations

import pandas as pd

from toolkit import load
from toolkit.client.model import STATUS_CATEGORIES, Status


def test_the_vocabulary_covers_every_job_status_and_rejected_inputs():
    assert set(STATUS_CATEGORIES) == {s.value for s in Status} | {"rejected"}


def test_status_columns_of_different_loaders_concatenate_as_one_categorical():
    import importlib

    modules = [
        importlib.import_module(f"toolkit.load.{m}") for m in ("animaldetect", "authenta", "claid", "faces", "jobs")
    ]
    animaldetect, authenta = modules[0], modules[1]
    for module in modules:
        assert tuple(module.STATUSES) == STATUS_CATEGORIES, module.__name__
    a = pd.Series(pd.Categorical(["succeeded", "failed"], categories=animaldetect.STATUSES))
    b = pd.Series(pd.Categorical(["queued"], categories=list(authenta.STATUSES)))
    both = pd.concat([a, b], ignore_index=True)
    assert isinstance(both.dtype, pd.CategoricalDtype) and list(both) == ["succeeded", "failed", "queued"]
    assert hasattr(load, "jobs")
