"""``engine="dask"``: the loaders' lazy form over the workspace's columnar dataset (``toolkit.load.store``).

Dask is imported here only, so the toolkit works without the ``[dask]`` extra until a lazy frame is asked for.
"""

from __future__ import annotations

from typing import Any

from . import store

EXTRA = (
    "engine='dask' needs the toolkit's [dask] extra: pip install 'toolkit[dask]' (dask, distributed, dask-geopandas)"
)


def lazy_frame(
    source: Any, table: str, build: store.Build, *, engine: str = "dask", threshold: float | None = None
) -> Any:
    """A ``dask.dataframe`` (``dask_geopandas`` for features) over ``table``'s dataset, nothing loaded yet.

    ``source``: a Workspace or Batch (its store is brought up to date with the cache first and compacted, so
    no job appears twice), or the folder of a workspace or of a copy of its ``columns/{table}`` dataset.
    A Batch gives its own jobs' rows only.
    """
    if engine != "dask":
        raise ValueError(f"engine={engine!r}: choose 'pandas' (an in-memory frame) or 'dask' (a lazy one)")
    try:
        import dask.dataframe as dd
    except ImportError as e:
        raise ImportError(EXTRA) from e
    path = store.sync(source, table, build) if _has_ledger(source) else store.dataset_path(source, table)
    if table == "features":
        try:
            import dask_geopandas  # type: ignore[import-untyped]
        except ImportError as e:
            raise ImportError(EXTRA) from e
        ddf = dask_geopandas.read_parquet(str(path))
    else:
        ddf = dd.read_parquet(str(path))
    if isinstance(getattr(source, "jobs", None), list):  # a Batch: its jobs among the workspace's
        # filtered per partition: dask's pushdown of this filter into the Parquet read trips on categoricals
        ddf = ddf.map_partitions(_only, frozenset(j.key for j in source.jobs), meta=ddf._meta)
    if table == "detections":
        ddf = ddf.assign(above=ddf["score"] >= threshold if threshold is not None else ddf["score"].notnull())
    return ddf


def _has_ledger(source: Any) -> bool:
    return hasattr(source, "ledger") or hasattr(getattr(source, "client", None), "ledger")


def _only(frame: Any, keys: frozenset[str]) -> Any:
    return frame[frame[store.KEY].astype(object).isin(keys)]
