"""The workspace's columnar copy of its results: partitioned (Geo)Parquet that loaders, Dask and DuckDB read.

Layout (hive partitions: pyarrow, Dask, DuckDB and Spark read a table's folder as one dataset)::

    {workspace}/columns/{table}/provider={p}/operation={op}/part-{ns}-{id}.parquet
    {workspace}/columns/_manifest/{table}/part-{ns}-{id}.parquet      one row per job that part holds

The raw JSON in the result cache stays the source of truth. A part holds the rows of terminal jobs only, each
job under a fingerprint of everything its rows depend on (result digest, status, finish time, job id). A job
whose fingerprint no manifest names (new, re-run, its part deleted) is built from the cache again and appended
as a new part; the newest part naming a job wins. ``compact`` rewrites a partition into one part and drops the
rows newer parts superseded, so readers of the dataset itself never see a job twice.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from ..client.model import Job, Status
from ._cached import CachedResults
from ._ledger_read import _full, _Jobs, _workspace_jobs, read_results

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from ..client.ledger import Ledger

__all__ = ["ROOT", "TABLES", "Store", "Loaded", "CachedResults", "load", "dataset_path", "sync", "compact", "concat"]

ROOT = "columns"
KEY = "job_key"  # the ledger key of the job a row came from (the dataset's link back to the cache)
VERSION = "1"  # bump when a table's rows change shape: older parts are then rebuilt from the cache
TABLES = {"detections": "animaldetect", "features": "sateais", "verdicts": "authenta", "faces": "faces"}
TRUST = "trusted.json"  # what the last load checked (``Store.trust``)
COMPACT_PARTS = 8  # a partition with this many parts (or superseded rows) is rewritten into one

#: ``build(records) -> (rows, jobs)``: a table's rows with a ``job_key`` column, and one row per record (its
#: ``job_key`` plus whatever per-job facts the table needs to finish a frame)
Build = Callable[[list[dict[str, Any]]], tuple[pd.DataFrame, pd.DataFrame]]


def fingerprint(job: Job) -> str:
    """What a job's rows depend on besides its input's bytes (the key): the result, the verdict, the job id and
    where the input is now (a renamed photo's rows carry its new file name and the camera read from it)."""
    return f"{VERSION}|{job.result_digest}|{job.status.value}|{job.finished_at!r}|{job.job_id}|{job.input}"


class Store:
    """One table of a workspace's columnar store (``{workspace}/columns/{table}``)."""

    def __init__(self, workspace: str | Path, table: str) -> None:
        self.root = Path(workspace) / ROOT
        self.table = table
        self.data = self.root / table
        self.meta = self.root / "_manifest" / table

    def manifest(self) -> pd.DataFrame:
        """Every job a part holds, newest part first wins: indexed by ``job_key`` with ``fp``, ``part`` and the
        table's per-job facts. Manifests whose part is gone are left out (those jobs are rebuilt)."""
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        names = sorted(m.name for m in self.meta.glob("part-*.parquet")) if self.meta.is_dir() else []
        # a manifest file is written once under a unique name: the same names (and parts) are the same frame
        live = tuple(n for n in names if _is_live(self, n))
        cached = _MANIFESTS.get(self.meta)
        if cached is not None and cached[0] == live:
            return cached[1]
        frames = []
        for name in live:
            try:
                t = pq.read_table(self.meta / name)
            except (OSError, ValueError):  # removed by a compaction in another process, or half-written
                continue
            part = (t.schema.metadata or {}).get(b"part", b"").decode()
            if part and (self.data / part).is_file():
                frames.append(t.to_pandas().assign(part=part))
        if not frames:
            return pd.DataFrame({"fp": pd.Series([], dtype=object), "part": pd.Series([], dtype=object)}, index=[])
        man = pd.concat(frames, ignore_index=True).drop_duplicates(KEY, keep="last").set_index(KEY)
        if len(_MANIFESTS) >= 8:
            _MANIFESTS.pop(next(iter(_MANIFESTS)))
        _MANIFESTS[self.meta] = (live, man)
        return man

    def write(self, rows: "pd.DataFrame | pa.Table", jobs: pd.DataFrame, provider: str, operation: str) -> str:
        """Append one part (rows, then its manifest: a manifest never names a part not yet written)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = f"part-{time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        rel = f"provider={quote(provider, safe='')}/operation={quote(operation, safe='')}/{name}"
        path = self.data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + name)
        if isinstance(rows, pa.Table):
            pq.write_table(rows, tmp)
            rows = None
        else:  # attrs (the raw JSON) would be embedded in the file's pandas metadata
            rows = rows.copy(deep=False)
            rows.attrs = {}
        if rows is None:
            pass
        elif hasattr(rows, "geometry") and hasattr(rows, "to_wkb"):
            rows.to_parquet(tmp, index=False)  # GeoParquet: geometry as WKB plus the "geo" metadata
        else:
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), tmp)
        os.replace(tmp, path)
        self.meta.mkdir(parents=True, exist_ok=True)
        mt = pa.Table.from_pandas(jobs.reset_index(drop=True), preserve_index=False)
        mt = mt.replace_schema_metadata({**(mt.schema.metadata or {}), b"part": rel.encode()})
        mtmp = self.meta / ("." + name)
        pq.write_table(mt, mtmp)
        os.replace(mtmp, self.meta / name)
        return rel

    def trusted(self) -> tuple[tuple[str, int], set[str], set[str]] | None:
        """What the last load checked: ((ledger id, generation), the parts it saw, the keys it found stale)."""
        try:
            d = json.loads((self.meta / TRUST).read_text())
            return (str(d["ledger"]), int(d["generation"])), set(d["parts"]), set(d["stale"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def trust(self, generation: tuple[str, int], parts: set[str], stale: list[str]) -> None:
        """Record that at ``generation`` every job a manifest of ``parts`` names is fresh, but ``stale``."""
        d = {"ledger": generation[0], "generation": generation[1], "parts": sorted(parts), "stale": stale}
        tmp = self.meta / f".{TRUST}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            self.meta.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(d))
            os.replace(tmp, self.meta / TRUST)
        except OSError:  # a read-only workspace: every load checks every job
            tmp.unlink(missing_ok=True)

    def read(self, parts: dict[str, set[str] | None], columns: list[str] | None = None) -> list["pa.Table"]:
        """Rows of ``parts`` (relative paths), each limited to the given job keys (None: all its rows)."""
        import pyarrow as pa
        import pyarrow.compute as pc  # type: ignore[import-untyped]
        import pyarrow.parquet as pq

        out = []
        for rel, keys in parts.items():
            t = pq.read_table(self.data / rel, columns=columns, partitioning=None)
            if keys is not None:
                t = t.filter(pc.is_in(t[KEY], value_set=pa.array(sorted(keys), pa.string())))
            out.append(t)
        return out

    def compact(self, min_parts: int = COMPACT_PARTS) -> int:
        """Rewrite each partition with ``min_parts`` parts or more, or with superseded rows, into one part;
        returns how many partitions were rewritten."""
        import pyarrow as pa

        man = self.manifest()
        done = 0
        for folder in sorted({p.parent for p in self.data.glob("provider=*/operation=*/part-*.parquet")}):
            rels = sorted(str(p.relative_to(self.data)) for p in folder.glob("part-*.parquet"))
            live = man[man["part"].isin(rels)]
            held = {rel: _part_keys(self.meta, rel) for rel in rels}
            superseded = sum(len(k) for k in held.values()) > len(live)
            if len(rels) < min_parts and not superseded:
                continue
            tables = self.read({rel: set(live.index[live["part"] == rel]) for rel in rels})
            rows = pa.concat_tables(tables, promote_options="permissive") if tables else None
            provider, operation = (unquote(s.split("=", 1)[1]) for s in folder.relative_to(self.data).parts)
            jobs = live.drop(columns="part").reset_index()
            if rows is not None and len(jobs):
                # arrow as read (a pandas round trip would type all-null categoricals as null, which Dask
                # cannot read back); GeoParquet through geopandas, which writes its "geo" metadata
                geo = b"geo" in (rows.schema.metadata or {})
                self.write(_to_pandas(rows, True) if geo else rows, jobs, provider, operation)
            for rel in rels:  # manifests first: a reader then never meets a manifest without its part
                (self.meta / Path(rel).name).unlink(missing_ok=True)
                (self.data / rel).unlink(missing_ok=True)
            done += 1
        return done


#: the last manifest frame read per store, with the manifest files it came from (``Store.manifest``)
_MANIFESTS: dict[Path, tuple[tuple[str, ...], pd.DataFrame]] = {}


@lru_cache(maxsize=4096)
def _part_of(meta: Path, name: str) -> str:
    """The part a manifest file names (its schema metadata; a manifest is never rewritten). Raises OSError or
    ValueError for one removed or half-written (not remembered: read again next time)."""
    import pyarrow.parquet as pq

    return (pq.read_schema(meta / name).metadata or {}).get(b"part", b"").decode()


def _is_live(store: Store, name: str) -> bool:
    try:
        part = _part_of(store.meta, name)
    except (OSError, ValueError):
        return False
    return bool(part) and (store.data / part).is_file()


def _part_keys(meta: Path, rel: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(meta / Path(rel).name, columns=[KEY])[KEY].to_pylist()
    except (OSError, ValueError):
        return []


def time_ns() -> int:
    import time

    return time.time_ns()


# -- which jobs a source means ------------------------------------------------------------------------------
def source_jobs(source: Any, provider: str) -> tuple["Ledger", Sequence[Job]] | None:
    """The ledger and jobs (in order) of a Batch or a Workspace of ``provider``; None for anything else."""
    client: Any = getattr(source, "client", None)
    if isinstance(getattr(source, "jobs", None), list) and hasattr(client, "ledger"):
        return (client.ledger, list(source.jobs)) if getattr(client, "name", None) == provider else None
    ledger = getattr(source, "ledger", None)
    if ledger is not None and hasattr(ledger, "put_result") and hasattr(source, "path"):
        return ledger, _workspace_jobs(ledger, provider)
    return None


def record(job: Job, result: Any) -> dict[str, Any]:
    """The record ``Batch.records()`` gives for ``job`` (what the loaders read)."""
    return {
        "job_id": job.job_id,
        "input": job.input,
        "key": job.key,
        "provider": job.provider,
        "operation": job.operation,
        "status": job.status.value,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "options": job.options,
        "meta": job.meta,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "result": result,
    }


@dataclass
class Loaded:
    """A table's rows for a source's jobs, from the store where it is fresh and built from the cache where not."""

    jobs: Sequence[Job]  # the source's jobs, in order
    rows: pd.DataFrame  # in job order; ``job_key`` column included
    facts: pd.DataFrame  # one row per job (indexed by job_key, in job order): the table's per-job facts
    ledger: "Ledger"


def load(source: Any, table: str, build: Build, geo: bool = False) -> Loaded | None:
    """The table's rows for ``source`` (a Batch or Workspace), or None when it is neither (load from JSON)."""
    resolved = source_jobs(source, TABLES[table])
    if resolved is None:
        return None
    ledger, jobs = resolved
    store = Store(ledger.path, table)
    keys = jobs.keys if isinstance(jobs, _Jobs) else [j.key for j in jobs]
    man = store.manifest()
    known = man.reindex(keys)
    fresh = _fresh(store, jobs, known) if len(man) else np.zeros(len(jobs), dtype=bool)
    missing = _full(ledger, [jobs[i] for i in np.flatnonzero(~fresh).tolist()])
    frames, facts = [], [known[fresh].drop(columns=["fp", "part"])]
    written: list[str] = []
    if missing:
        built_rows, built_facts = _build(store, ledger, missing, build, written)
        frames += built_rows
        facts += built_facts
    if isinstance(jobs, _Jobs) and jobs.generation is not None:
        stored = {j.key for j in missing if j.status.terminal}  # rebuilt: their new part holds them fresh
        stale = [k for k, ok, held in zip(keys, fresh, known["fp"].notna()) if held and not ok and k not in stored]
        store.trust(jobs.generation, set(man["part"]) | set(written), stale)
    wanted: dict[str, set[str] | None] = {}
    by_part = known[fresh].groupby("part", sort=True).groups if fresh.any() else {}
    for rel, idx in by_part.items():
        held = (man["part"] == rel).sum()
        wanted[str(rel)] = None if held == len(idx) else set(idx)
    tables = store.read(wanted)
    frames = [_to_pandas(t, geo) for t in tables] + frames
    rows = concat(frames) if frames else pd.DataFrame({KEY: pd.Series([], dtype=object)})
    rows = _in_order(rows, keys)
    fact = pd.concat([f for f in facts if len(f.columns) or len(f)], axis=0) if len(facts) > 1 else facts[0]
    return Loaded(jobs, rows, fact.reindex(keys), ledger)


def _fresh(store: Store, jobs: Sequence[Job], known: pd.DataFrame) -> np.ndarray:
    """Which jobs the manifest (``known``, in job order) holds under their current fingerprint. A workspace's
    jobs unchanged since the store last checked them (their ledger generation is not newer, the part naming
    them was there then) are trusted without one; only the others are compared."""
    held = known["fp"].to_numpy(dtype=object)
    check = np.ones(len(jobs), dtype=bool)
    trusted = store.trusted()
    gens, generation = (jobs.gens, jobs.generation) if isinstance(jobs, _Jobs) else (None, None)
    if trusted is not None and gens is not None and generation is not None:
        (ledger_id, gen), parts, stale = trusted
        if ledger_id == generation[0] and gen <= generation[1]:
            check = (gens > gen) | ~known["part"].isin(parts).to_numpy() | known.index.isin(stale)
    fresh = ~check & pd.notna(held)
    idx = np.flatnonzero(check & pd.notna(held))
    fps = [  # ``fingerprint`` inlined: a season's jobs are many
        f"{VERSION}|{j.result_digest}|{j.status.value}|{j.finished_at!r}|{j.job_id}|{j.input}"
        for j in (jobs[i] for i in idx.tolist())
    ]
    fresh[idx] = held[idx] == np.array(fps, dtype=object)
    return fresh


def _build(
    store: Store, ledger: "Ledger", jobs: list[Job], build: Build, written: list[str]
) -> tuple[list[Any], list[pd.DataFrame]]:
    """Rows of ``jobs`` from the cache; those of terminal jobs appended to the store, one part per operation."""
    rows, facts, lost = [], [], 0
    groups: dict[str, list[tuple[Job, Any]]] = {}
    for j, (found, result) in zip(jobs, read_results(ledger, [j.result_digest for j in jobs])):
        lost += bool(j.result_digest) and not found and j.status == Status.SUCCEEDED
        groups.setdefault(j.operation, []).append((j, result))
    if lost:
        warnings.warn(
            f"{lost} of {len(jobs)} succeeded job(s) have no result in the cache at {ledger.cache_dir} (deleted or "
            "damaged): they are left out. .wait() fetches them again while the provider still has them.",
            stacklevel=4,
        )
    for operation, pairs in groups.items():
        r, f = build([record(j, res) for j, res in pairs])
        keep = {
            j.key: fingerprint(j)
            for j, res in pairs
            if j.status.terminal and (j.status != Status.SUCCEEDED or res is not None)
        }
        if keep:
            stored = f[f[KEY].isin(keep.keys())].assign(fp=lambda d: d[KEY].map(keep))
            try:
                written.append(store.write(r[r[KEY].isin(keep.keys())], stored, pairs[0][0].provider, operation))
            except OSError as e:  # a read-only or full workspace: the frame is still right, only not stored
                warnings.warn(f"columnar store not written ({e}); loads read the cache until it can be", stacklevel=4)
        rows.append(r)
        facts.append(f.set_index(KEY))
    return rows, facts


def _to_pandas(t: "pa.Table", geo: bool) -> pd.DataFrame:
    if not geo:
        return t.to_pandas()
    import geopandas as gpd

    frame = t.drop_columns(["geometry"]).to_pandas()
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries.from_wkb(t["geometry"].to_numpy(), crs="EPSG:4326"))


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise concat keeping categoricals categorical (their categories united) and geometry geometry."""
    frames = [f for f in frames if len(f.columns)]
    if len(frames) == 1:
        return frames[0]
    from pandas.api.types import union_categoricals

    names = list(dict.fromkeys(c for f in frames for c in f.columns))
    cols: dict[str, Any] = {}
    for c in names:
        parts = [f[c] if c in f.columns else pd.Series([None] * len(f), dtype=object) for f in frames]
        if any(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            cats = [p.array if isinstance(p.dtype, pd.CategoricalDtype) else pd.Categorical(p) for p in parts]
            cols[c] = union_categoricals([_str_cats(x) for x in cats], ignore_order=True)
        elif getattr(parts[0].dtype, "name", "") == "geometry":
            cols[c] = pd.concat(parts, ignore_index=True).array
        else:
            cols[c] = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame(cols)
    if "geometry" in out.columns and hasattr(frames[0], "set_geometry"):
        import geopandas as gpd

        out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    return out


def _str_cats(c: pd.Categorical) -> pd.Categorical:
    if c.categories.dtype == "str":
        return c
    return pd.Categorical.from_codes(c.codes, categories=pd.Index([str(v) for v in c.categories], dtype="str"))


def _in_order(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows sorted (stably) by their job's position among ``keys``."""
    if not len(rows):
        return rows
    col = rows[KEY]
    cat = col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col)
    pos = pd.Index(keys).get_indexer(cat.categories)[cat.codes]
    if (np.diff(pos) >= 0).all():
        return rows.reset_index(drop=True)
    return rows.take(np.argsort(pos, kind="stable")).reset_index(drop=True)


# -- the dataset for other engines --------------------------------------------------------------------------
def dataset_path(source: Any, table: str) -> Path:
    """The folder of ``table``'s Parquet dataset for a Workspace, Batch, workspace folder or dataset folder."""
    ledger = getattr(source, "ledger", None) or getattr(getattr(source, "client", None), "ledger", None)
    if ledger is not None:
        return Store(ledger.path, table).data
    p = Path(source)
    for candidate in (p / ROOT / table, p / table, p):
        if candidate.is_dir() and any(candidate.glob("provider=*")):
            return candidate
    raise FileNotFoundError(f"{p}: no columnar {table} dataset there (expected {p / ROOT / table}/provider=...)")


def sync(source: Any, table: str, build: Build) -> Path:
    """Bring ``table``'s dataset up to date with a Workspace's or Batch's cache and compact it for readers."""
    if source_jobs(source, TABLES[table]) is not None:
        load(source, table, build)
    path = dataset_path(source, table)
    Store(path.parent.parent, table).compact(min_parts=2)
    return path


def compact(workspace: str | Path, min_parts: int = COMPACT_PARTS) -> int:
    """Compact every table of a workspace's store; returns how many partitions were rewritten."""
    return sum(Store(workspace, t).compact(min_parts) for t in TABLES)
