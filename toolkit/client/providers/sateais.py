"""SateAIs (Space Shift), docs/contracts.md §2: POST /analyze/{type} -> poll GET /jobs/{id} -> 302 to the GeoJSON.

What differs from the other providers, as code: no idempotency key (a create is never replayed blindly and a
lost create is not looked up again: there is no job list), the ``/analyze`` vs ``/detect`` drift, a result
behind a 302 to a signed URL, 5 active jobs per key (queued locally by the batch), and a first poll per type.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date as Date, datetime, timezone
from typing import Any, Callable, Iterable

import httpx

from ..options import DRY_RUN, FORCE, Input, Option, operation
from .. import runtime
from ..aoi import AREA_CAP_SQKM, AOI, parse_aois
from ..batch import Batch, ProviderClient
from ..plan import Plan
from ..model import InvalidOption, Job, JobError, PreflightError, Status, map_status
from ..registry import ProviderInfo
from ..transport import expect_json
from .base import Adapter, Item, PollPolicy, PollResult
from .sateais_preview import Preview, price

BASE_URL = "https://api.spcsft.com/api/v1"
TYPES = ("ship", "oilslick", "newbuilding", "disappearbuilding", "timeseries")
SCENE_TYPES = ("ship", "oilslick")
TIMESERIES_MAX_YEARS = 3
#: Documented first poll per type (seconds); then about once a minute.
FIRST_POLL = {"ship": 300.0, "oilslick": 600.0, "newbuilding": 300.0, "disappearbuilding": 300.0, "timeseries": 120.0}
DIRECTIONS = ("before", "after", "nearest")
ORBITS = ("ascending", "descending")
#: 404 codes that are real answers of an existing route (so no /detect fallback for them)
ROUTE_EXISTS_404 = {"SCENE_NOT_FOUND", "INSUFFICIENT_SCENES"}
S1_LAUNCH = Date(2014, 4, 3)  # Sentinel-1A: no scene is older
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
S1_PRODUCT = re.compile(r"^S1[A-D]_[A-Z0-9]{2}_(?P<product>[A-Z_]{4})_")


def _loads(data: bytes | str) -> Any:
    """JSON that may carry NaN/Infinity (sateais-js sanitises them): non-finite numbers become None."""
    return json.loads(data, parse_constant=lambda _c: None)


def _job_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from any of the error shapes: ``error_code``/``error_message``, ``error`` as a
    string (deprecated alias) or as ``{code, message}``."""
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("error_code"), body.get("error_message")
    err = body.get("error")
    if isinstance(err, dict):
        code, message = code or err.get("code"), message or err.get("message")
    elif isinstance(err, str) and err:
        code = code or err
    return code, message or body.get("message")


class SateAIsAdapter(Adapter):
    name = "sateais"
    # ``first`` is the smallest documented first poll; ``policy_for`` gives each type its own.
    policy = PollPolicy(first=min(FIRST_POLL.values()), interval=60.0, factor=1.0, max_interval=60.0)
    statuses = {
        "pending": Status.QUEUED,
        "processing": Status.RUNNING,
        "completed": Status.SUCCEEDED,
        "failed": Status.FAILED,
    }
    idempotent_create = False  # no idempotency key: an ambiguous create is never sent again

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.verb = "analyze"  # becomes "detect" for the session once /analyze is found missing

    def policy_for(self, job: Job) -> PollPolicy:
        """The poll policy of one job: the documented first poll of its type."""
        return replace(self.policy, first=FIRST_POLL.get(job.operation, self.policy.first))

    async def create(self, job: Job, item: Item, record: Callable[[Job], None]) -> None:
        if job.job_id is not None:
            return  # created before an interruption: nothing to redo (there is no upload or submit step)
        r = await self._post_create(job.operation, item.meta["body"])
        if r.status_code not in (200, 201, 202):
            raise self.error(r, job)
        created = _loads(r.content)
        if not isinstance(created, dict) or not created.get("job_id"):
            # the job may exist, but without its id it cannot be followed: say so, never create again
            raise JobError(
                self.name,
                "INVALID_RESPONSE",
                f"HTTP {r.status_code} without a job_id: {r.text[:200]}",
                http_status=r.status_code,
                input=job.input,
                hint="check the provider's dashboard",
            )
        job.job_id = str(created["job_id"])
        job.provider_status = created.get("status")
        job.status = map_status(created.get("status"), self.statuses) or Status.QUEUED
        job.meta["endpoint"] = self.verb
        record(job)

    async def _post_create(self, kind: str, body: dict[str, Any]) -> httpx.Response:
        # safe_to_retry=False: a read error or 500 after the request left may have created a (paid) job.
        # An unreadable 2xx (a proxy's page) is CONNECTION_LOST too; the transport waits ``unsafe_timeout``.
        r = await self.t.request("POST", f"/{self.verb}/{kind}", json=body, safe_to_retry=False, expect=expect_json)
        if self.verb == "analyze" and self._route_missing(r):
            d = await self.t.request("POST", f"/detect/{kind}", json=body, safe_to_retry=False, expect=expect_json)
            if not self._route_missing(d):
                self.verb = "detect"
                return d
        return r

    def _route_missing(self, r: httpx.Response) -> bool:
        return r.status_code == 404 and self.parse_error(r)[0] not in ROUTE_EXISTS_404

    async def poll(self, job: Job) -> PollResult:
        r = await self.t.request("GET", f"/jobs/{job.job_id}", expect=expect_json)
        if r.status_code != 200:
            raise self.error(r, job)
        body = _loads(r.content)
        word = body.get("status") if isinstance(body, dict) else None
        code, message = _job_error(body) if str(word).lower() == "failed" else (None, None)
        return PollResult(map_status(word, self.statuses), word, code, message)

    async def fetch(self, job: Job) -> bytes:
        """GET the result: the 302 is followed without the Authorization header (Transport does that for
        every redirect). The URL is built from the job id, never from ``result_path`` (an absolute API path)."""
        for attempt in range(2):
            r = await self.t.request("GET", f"/jobs/{job.job_id}/result.geojson", expect=expect_json)
            if r.status_code == 403 and attempt == 0:
                continue  # the signed URL lapsed between the redirect and the download: ask for a new one
            break
        if r.status_code != 200:
            raise self.error(r, job)
        try:
            body = _loads(r.content)
        except ValueError as e:
            raise JobError(
                self.name, "INVALID_RESULT", f"the result is not JSON ({e})", job_id=job.job_id, input=job.input
            ) from None
        if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
            raise JobError(
                self.name,
                "INVALID_RESULT",
                "the result is not a GeoJSON FeatureCollection",
                job_id=job.job_id,
                input=job.input,
            )
        return r.content  # stored as received; loaders parse NaN/Infinity leniently

    def parse_error(self, resp: httpx.Response) -> tuple[str | None, str]:
        try:
            body = _loads(resp.content)
        except ValueError:
            return None, resp.text[:300] or resp.reason_phrase
        code, message = _job_error(body)
        return code, message or (str(body)[:300] if code is None else "")


# -- the operations' inputs and options, declared once (toolkit.client.options) -------------------------------
_AOI = Input(
    "aoi",
    "the area(s): a GeoJSON file or dict, GeoDataFrame, shapely polygon, WKT, or a bbox tuple "
    "(min_lon, min_lat, max_lon, max_lat) in EPSG:4326 degrees; a list, or a dict name -> AOI, for several",
)
_TYPE = Option("type", str, choices=TYPES, help="the analysis")
_DATE = Option("date", object, help="YYYY-MM-DD (or a list of dates: one job per AOI and date); required with an aoi")
_SCENE = Option("scene_id", object, help="Sentinel-1 GRD product name(s), instead of aoi and date")
_DIRECTION = Option("date_direction", str, choices=DIRECTIONS, help="which scene relative to date")
_ORBIT = Option("orbit_direction", str, choices=ORBITS, help="only scenes of this orbit direction")
_START = Option("date_start", object, help="YYYY-MM-DD, start of the range (or a list, paired with date_end)")
_END = Option("date_end", object, help="YYYY-MM-DD, end of the range (or a list, paired with date_start)")


class SceneBatch(Batch):
    """A SateAIs batch: ``features()`` is its results frame."""

    def features(self, wait: bool | None = None) -> Any:
        """A GeoDataFrame of detected features in EPSG:4326 (see ``toolkit.load.features``); ``wait=True`` waits
        for unfinished jobs first."""
        from ... import load

        return load.features(self, wait=wait)


class SateAIsClient(ProviderClient):
    """``ws.sateais``: Sentinel-1 AOI and date -> ships, oil slicks, building changes, time series (GeoJSON).

    Every detection call takes one AOI or many (list, GeoDataFrame rows, FeatureCollection features, a dict
    name -> AOI) and one date or several, and makes one job per (AOI, date) pair, all in one Batch.
    """

    adapter_class = SateAIsAdapter
    batch_class = SceneBatch

    @operation(_AOI, _DATE, _SCENE, _DIRECTION, _ORBIT, FORCE, DRY_RUN)
    def ship(
        self,
        aoi: Any = None,
        date: Any = None,
        *,
        scene_id: str | Iterable[str] | None = None,
        date_direction: str = "nearest",
        orbit_direction: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Batch | Plan:
        """Ships in the Sentinel-1 scene nearest (before/after) ``date`` over each AOI, or in named GRD scenes."""
        return self.submit(
            "ship",
            self.items(
                "ship", aoi, date, scene_id=scene_id, date_direction=date_direction, orbit_direction=orbit_direction
            ),
            force=force,
            dry_run=dry_run,
        )

    @operation(_AOI, _DATE, _SCENE, _DIRECTION, _ORBIT, FORCE, DRY_RUN)
    def oilslick(
        self,
        aoi: Any = None,
        date: Any = None,
        *,
        scene_id: str | Iterable[str] | None = None,
        date_direction: str = "nearest",
        orbit_direction: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Batch | Plan:
        """Oil slicks in one scene per (AOI, date), or in named GRD scenes."""
        return self.submit(
            "oilslick",
            self.items(
                "oilslick", aoi, date, scene_id=scene_id, date_direction=date_direction, orbit_direction=orbit_direction
            ),
            force=force,
            dry_run=dry_run,
        )

    @operation(_AOI, _START, _END, _ORBIT, FORCE, DRY_RUN)
    def newbuilding(
        self,
        aoi: Any,
        date_start: Any,
        date_end: Any,
        *,
        orbit_direction: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Batch | Plan:
        """Buildings that appeared between the first and last scene of the range (AOI <= 30,000 km²)."""
        return self.submit(
            "newbuilding",
            self.items("newbuilding", aoi, date_start=date_start, date_end=date_end, orbit_direction=orbit_direction),
            force=force,
            dry_run=dry_run,
        )

    @operation(_AOI, _START, _END, _ORBIT, FORCE, DRY_RUN)
    def disappearbuilding(
        self,
        aoi: Any,
        date_start: Any,
        date_end: Any,
        *,
        orbit_direction: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Batch | Plan:
        """Buildings that disappeared between the first and last scene of the range (AOI <= 30,000 km²)."""
        return self.submit(
            "disappearbuilding",
            self.items(
                "disappearbuilding", aoi, date_start=date_start, date_end=date_end, orbit_direction=orbit_direction
            ),
            force=force,
            dry_run=dry_run,
        )

    @operation(_AOI, _START, _END, _ORBIT, FORCE, DRY_RUN)
    def timeseries(
        self,
        aoi: Any,
        date_start: Any,
        date_end: Any,
        *,
        orbit_direction: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Batch | Plan:
        """Per-scene backscatter and change area over the range (AOI <= 50 km², range <= 3 years)."""
        return self.submit(
            "timeseries",
            self.items("timeseries", aoi, date_start=date_start, date_end=date_end, orbit_direction=orbit_direction),
            force=force,
            dry_run=dry_run,
        )

    @operation(_TYPE, _AOI, _DATE, _SCENE, _START, _END, _DIRECTION, _ORBIT)
    def preview(
        self,
        type: str,
        aoi: Any = None,
        date: Any = None,
        *,
        scene_id: str | None = None,
        date_start: Any = None,
        date_end: Any = None,
        date_direction: str = "nearest",
        orbit_direction: str | None = None,
    ) -> Preview | dict[str, Preview]:
        """The free estimate (``/analyze/{type}/preview``): coverage ratio and method, credits and whether they
        suffice, warnings (code, message). No job, no credit.

        One AOI and date give a ``Preview``; several give ``{label: Preview}``. A bad input raises its
        PreflightError before anything is sent; a refusal by the API raises JobError.
        """
        planned = self.items(
            type,
            aoi,
            date,
            scene_id=scene_id,
            date_start=date_start,
            date_end=date_end,
            date_direction=date_direction,
            orbit_direction=orbit_direction,
        )
        ready: list[Item] = []
        for it in planned:
            if isinstance(it, PreflightError):
                raise it
            ready.append(it)

        async def run() -> dict[str, Preview]:
            return {it.input: await self._preview(type, it) for it in ready}

        out = runtime.run(run())
        return next(iter(out.values())) if len(out) == 1 else out

    async def _preview(self, type: str, it: Item) -> Preview:
        r = await self.transport.request(
            "POST", f"/analyze/{type}/preview", json=it.meta["body"], safe_to_retry=True
        )  # free and creates nothing
        if r.status_code != 200:
            raise self.adapter.error(r, input=it.input)
        return Preview.from_response(_loads(r.content), type=type, input=it.input)

    def price(self, plan: Plan, work: dict[str, Item]) -> None:
        """The free preview of each new job in ``plan``: its credits, coverage and warnings (creates nothing)."""
        price(plan, work, self._preview)

    # -- preflight: inputs -> request bodies -------------------------------------------------------------
    def items(
        self,
        type: str,
        aoi: Any = None,
        date: Any = None,
        *,
        scene_id: str | Iterable[str] | None = None,
        date_start: Any = None,
        date_end: Any = None,
        date_direction: str = "nearest",
        orbit_direction: str | None = None,
    ) -> list[Item | PreflightError]:
        """One Item per (AOI, date) pair with its request body, or a PreflightError per bad AOI or date.

        Wrong option values (unknown type, direction, orbit) raise ValueError at once.
        """
        if type not in TYPES:
            raise InvalidOption(f"type={type!r}: SateAIs analyses {', '.join(TYPES)}")
        if date_direction not in DIRECTIONS:
            raise InvalidOption(f"date_direction={date_direction!r}: one of {', '.join(DIRECTIONS)}")
        if orbit_direction not in (None, *ORBITS):
            raise InvalidOption(f"orbit_direction={orbit_direction!r}: one of {', '.join(ORBITS)} or None")
        base: dict[str, Any] = {"satellite_id": "sentinel-1"}
        orbit = {"orbit_direction": orbit_direction} if orbit_direction else {}
        if type in SCENE_TYPES:
            if scene_id is not None:
                return self._scene_items(type, aoi, date, scene_id)
            if aoi is None:
                return [PreflightError(self.name, "(no AOI)", "give an aoi with a date, or a scene_id")]
            if isinstance(date, tuple):
                raise InvalidOption(
                    f"date={date!r}: {type} looks at one scene per date, not a (start, end) range; for one job "
                    f"per date pass a list, date={list(date)!r}"
                )
            dates = _dates(self.name, date, "date")
            if not dates:
                return [PreflightError(self.name, "date", "a date (YYYY-MM-DD) is required with an aoi")]
            pairs = [
                d if isinstance(d, PreflightError) else (d, {"date": d, "date_direction": date_direction, **orbit})
                for d in dates
            ]
        else:
            if scene_id is not None:
                return [
                    PreflightError(
                        self.name,
                        str(scene_id),
                        f"scene_id is not supported for {type}; give an aoi, date_start and date_end",
                    )
                ]
            pairs = _ranges(self.name, type, date_start, date_end, orbit)
        out: list[Item | PreflightError] = [p for p in pairs if isinstance(p, PreflightError)]
        good = [p for p in pairs if not isinstance(p, PreflightError)]
        for a in parse_aois(self.name, aoi, cap_sqkm=AREA_CAP_SQKM.get(type), kind=type):
            if isinstance(a, PreflightError):
                out.append(a)
                continue
            for label, fields in good:
                out.append(_item(type, a, label, {**base, "polygon": a.wkt, **fields}))
        return out

    def _scene_items(
        self, type: str, aoi: Any, date: Any, scene_id: str | Iterable[str]
    ) -> list[Item | PreflightError]:
        ids = [scene_id] if isinstance(scene_id, str) else list(scene_id)
        if aoi is not None:
            return [PreflightError(self.name, ", ".join(ids), "give either scene_id or an aoi (+ date), not both")]
        if date is not None:
            return [PreflightError(self.name, ", ".join(ids), "a scene_id names its acquisition: leave date out")]
        out: list[Item | PreflightError] = []
        for sid in ids:
            m = S1_PRODUCT.match(str(sid))
            if m is None:
                out.append(PreflightError(self.name, str(sid), "not a Sentinel-1 product name (S1A_IW_GRDH_...)"))
            elif not m["product"].startswith("GRD"):
                out.append(
                    PreflightError(
                        self.name,
                        str(sid),
                        f"only GRD scenes are analysed; this is a {m['product'].rstrip('_')} product",
                    )
                )
            else:
                body = {"satellite_id": "sentinel-1", "scene_id": sid}
                out.append(
                    Item(input=sid, content=_canonical(type, body), meta={"type": type, "scene_id": sid, "body": body})
                )
        return out

    def item_for(self, job: Job) -> Item | None:
        """A recorded job's request again, from the body its ledger row keeps (no file to read)."""
        body = job.meta.get("body")
        if not isinstance(body, dict) or "type" not in job.meta:
            return None
        return Item(input=job.input, content=_canonical(job.meta["type"], body), meta=dict(job.meta))


def _item(type: str, a: AOI, when: str, body: dict[str, Any]) -> Item:
    meta: dict[str, Any] = {
        "type": type,
        "aoi_name": a.name,
        "aoi_wkt": a.wkt,
        "area_sqkm": round(a.area_sqkm, 4),
        "body": body,
    }
    for k in ("date", "date_direction", "date_start", "date_end", "orbit_direction"):
        if k in body:
            meta[k] = body[k]
    earlier = (_canonical(type, {**body, "polygon": a.legacy_wkt}),) if a.legacy_wkt else ()
    return Item(input=f"{a.name}@{when}", content=_canonical(type, body), meta=meta, aliases=earlier)


def _canonical(type: str, body: dict[str, Any]) -> bytes:
    """What identifies a job: the type and the exact body sent (the ledger key hashes it)."""
    return json.dumps({"type": type, **body}, sort_keys=True).encode()


def _dates(provider: str, value: Any, what: str) -> list[str | PreflightError]:
    if value is None:
        return []
    values = list(value) if isinstance(value, (list, tuple, set)) or _is_index(value) else [value]
    return [_iso(provider, v, what) for v in values]


def _is_index(value: Any) -> bool:
    return hasattr(value, "__iter__") and hasattr(value, "dtype")  # pandas Series/Index, numpy arrays


def _iso(provider: str, value: Any, what: str) -> str | PreflightError:
    """A date as YYYY-MM-DD, or a PreflightError naming it."""
    if isinstance(value, datetime):
        return _in_archive(provider, value.date(), what)
    if isinstance(value, Date):
        return _in_archive(provider, value, what)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return _in_archive(provider, value.to_pydatetime().date(), what)
    s = str(value).strip()
    if not DATE_RE.match(s):
        return PreflightError(provider, f"{what} {value!r}", "bad date format: dates must be YYYY-MM-DD")
    try:
        day = Date.fromisoformat(s)
    except ValueError as e:  # the format is right, the day is not: 2026-02-30, 2026-13-01
        return PreflightError(provider, f"{what} {value!r}", f"{s} is not a real date ({e})")
    return _in_archive(provider, day, what)


def _in_archive(provider: str, day: Date, what: str) -> str | PreflightError:
    """The date when Sentinel-1 can have a scene of it: not before its launch, not after today (UTC)."""
    today = datetime.now(timezone.utc).date()
    if day < S1_LAUNCH:
        why = f"is before Sentinel-1's first scenes ({S1_LAUNCH.isoformat()})"
    elif day > today:
        why = f"is in the future (today is {today.isoformat()}): no scene of it exists yet"
    else:
        return day.isoformat()
    return PreflightError(provider, f"{what} {day.isoformat()}", f"{day.isoformat()} {why}")


def _ranges(provider: str, type: str, start: Any, end: Any, orbit: dict[str, str]) -> list[Any]:
    """(label, body fields) per valid date range, PreflightErrors for the others."""
    starts, ends = _dates(provider, start, "date_start"), _dates(provider, end, "date_end")
    if not starts or not ends:
        return [PreflightError(provider, "dates", "date_start and date_end (YYYY-MM-DD) are required")]
    if len(starts) == 1:
        starts = starts * len(ends)
    elif len(ends) == 1:
        ends = ends * len(starts)
    if len(starts) != len(ends):
        raise InvalidOption(
            f"{len(starts)} date_start values and {len(ends)} date_end values: give one of each, "
            "or lists of equal length (paired in order)"
        )
    out: list[Any] = []
    for s, e in zip(starts, ends):
        if isinstance(s, PreflightError) or isinstance(e, PreflightError):
            out += [x for x in (s, e) if isinstance(x, PreflightError) and x not in out]
            continue
        label = f"{s}..{e}"
        d0, d1 = Date.fromisoformat(s), Date.fromisoformat(e)
        if d0 >= d1:
            out.append(PreflightError(provider, label, f"date_start {s} must be before date_end {e}"))
        elif type == "timeseries" and d1 > _add_years(d0, TIMESERIES_MAX_YEARS):
            out.append(
                PreflightError(
                    provider,
                    label,
                    f"the range is {(d1 - d0).days} days, over the {TIMESERIES_MAX_YEARS}-year limit for timeseries",
                )
            )
        else:
            out.append((label, {"date_start": s, "date_end": e, **orbit}))
    return out


def _add_years(d: Date, years: int) -> Date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


INFO = ProviderInfo(
    name="sateais",
    key_var="SATEAIS_API_KEY",
    url_var="SATEAIS_BASE_URL",
    base_url=BASE_URL,
    client=SateAIsClient,
    batch=SceneBatch,
    rate_limits=((10, 1.0),),
    max_active_jobs=5,
    loader="features",
    plots=("detections_map", "sizes"),
    operations=TYPES,
    sandbox=True,
)
