"""Results -> tidy DataFrames / GeoDataFrames. Pure functions: each accepts a Batch, raw result dicts or files.

``load.results(batch)`` picks the provider's natural frame; the rest are named after what they return.
"""

from __future__ import annotations

from typing import Any

from ._source import records
from .animaldetect import detections, images_table
from .camtrap import from_megadetector, to_camtrap_dp, to_megadetector
from .authenta import embedding_matrix, verdicts
from .claid import images
from .faces import faces
from .jobs import jobs
from .sateais import InvalidGeometryWarning, features, to_geojson, to_geoparquet

__all__ = [
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
]


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
