"""Results -> tidy DataFrames / GeoDataFrames. Pure functions: each accepts a Batch, raw result dicts or files.

``load.results(batch)`` picks the provider's natural frame; the rest are named after what they return.

Honest about what they read: given a Batch whose jobs are not all finished, a loader warns once
(``UnsettledBatch``) with how many are unfinished and returns what is there; ``wait=True`` (or the module default
``toolkit.load.WAIT = True``) waits for the batch first. A batch with jobs of which none succeeded never gives an
empty frame silently either (``NoResults``).
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any, Callable, Protocol, TypeVar

from ..client.model import NoResults, UnsettledBatch, count_phrase, warn_user
from ._source import records
from .animaldetect import detections as _detections, images_table as _images_table
from .camtrap import from_megadetector, to_camtrap_dp as _to_camtrap_dp, to_megadetector as _to_megadetector
from .authenta import embedding_matrix, verdicts as _verdicts
from .claid import images as _images
from .cost import costs
from .faces import faces as _faces
from .jobs import jobs
from .sateais import InvalidGeometryWarning, features as _features, to_geojson, to_geoparquet

R = TypeVar("R", covariant=True)


class Loader(Protocol[R]):
    """A loader as ``honest`` returns it: the loader's own arguments, plus ``wait``."""

    def __call__(self, source: Any, *args: Any, wait: bool | None = None, **kwargs: Any) -> R: ...


#: Whether a loader given an unfinished Batch waits for it (True) or warns and returns what is there (False).
WAIT = False

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("toolkit_load_inside", default=False)


def honest(loader: Callable[..., R]) -> Loader[R]:
    """``loader`` with the Batch checks: an unfinished batch is waited for (``wait=True``/``WAIT``) or warned
    about; a batch none of whose jobs succeeded warns when the frame is empty. Other sources pass through.
    A loader called inside another (``results`` -> ``detections``) checks nothing twice."""
    if getattr(loader, "__honest__", False):
        return loader

    @functools.wraps(loader)
    def checked(source: Any, *args: Any, wait: bool | None = None, **kwargs: Any) -> Any:
        # a Batch, known by what it can do (importing the class would close a cycle: batch -> load -> batch)
        if not callable(getattr(source, "_settled", None)) or _inside.get():
            return loader(source, *args, **kwargs)
        token = _inside.set(True)
        try:
            _settle(source, WAIT if wait is None else wait, loader.__name__)
            out = loader(source, *args, **kwargs)
        finally:
            _inside.reset(token)
        _nothing_found(source, out, loader.__name__)
        return out

    checked.__doc__ = (loader.__doc__ or "").rstrip() + (
        "\n\n    Given a Batch not yet finished: warns (``UnsettledBatch``) and returns what is there; ``wait=True``"
        "\n    (default: ``toolkit.load.WAIT``) waits for it first."
    )
    checked.__honest__ = True  # type: ignore[attr-defined]
    return checked


def _settle(batch: Any, wait: bool, what: str) -> None:
    if wait and not batch.done:
        batch.wait()
    open_jobs = [j for j in batch.jobs if not batch._settled(j)]
    if not open_jobs:
        return
    counts: dict[str, int] = {}
    for j in open_jobs:
        counts[j.status.value] = counts.get(j.status.value, 0) + 1
    how = count_phrase(counts)
    warn_user(
        UnsettledBatch(
            f"{what}(): {len(open_jobs)} of {len(batch.jobs)} jobs of batch {batch.id} are not finished ({how}); "
            "the frame holds only what is there so far. Call .wait() first, pass wait=True, "
            "or set toolkit.load.WAIT = True."
        )
    )


def _nothing_found(batch: Any, out: Any, what: str) -> None:
    if not batch.jobs or not hasattr(out, "columns") or hasattr(out, "npartitions") or len(out) or not batch.done:
        return
    if any(j.status.value == "succeeded" for j in batch.jobs):
        return  # processed, nothing found: an honest empty frame
    counts = batch.status_counts()
    how = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    warn_user(
        NoResults(
            f"{what}(): no result: none of the {len(batch.jobs)} jobs of batch {batch.id} succeeded ({how}); "
            "see batch.failed() for why"
        )
    )


detections = honest(_detections)
images_table = honest(_images_table)
to_megadetector = honest(_to_megadetector)
to_camtrap_dp = honest(_to_camtrap_dp)
features = honest(_features)
verdicts = honest(_verdicts)
images = honest(_images)
faces = honest(_faces)

__all__ = [
    "WAIT",
    "honest",
    "UnsettledBatch",
    "NoResults",
    "records",
    "results",
    "detections",
    "images_table",
    "to_megadetector",
    "from_megadetector",
    "to_camtrap_dp",
    "features",
    "to_geoparquet",
    "to_geojson",
    "InvalidGeometryWarning",
    "verdicts",
    "embedding_matrix",
    "images",
    "faces",
    "jobs",
    "costs",
]


@honest
def results(source: Any) -> Any:
    """The natural results frame of a Batch's provider, its registered loader (``toolkit.client.registry``):
    detections, features, verdicts, images, face rows."""
    from ..client import registry

    provider = getattr(getattr(source, "client", None), "name", None)
    info = registry.get(provider) if isinstance(provider, str) and provider in registry.names() else None
    if info is None or info.loader is None:
        raise TypeError(
            "load.results needs a Batch; for raw results call the provider's loader "
            "(detections, features, verdicts, images, faces)"
        )
    return info.load(source)
