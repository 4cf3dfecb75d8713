"""SateAIs (Space Shift): create an analysis job -> poll -> 302 to the GeoJSON result (docs/contracts.md §2).

Routes (under ``/sateais/api/v1``): ``POST /analyze/{type}`` and ``POST /detect/{type}`` (202, job object),
``POST /analyze/{type}/preview`` (200, free), ``GET /jobs/{job_id}``, ``GET /jobs/{job_id}/result.geojson``
(302 to a signed storage URL; 404 before completion; 410 after the 30-day retention). No cancel endpoint.
Every request is validated before a job exists, so a 400/404 never costs credits.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from ... import antimeridian
from ..config import DAY, SandboxConfig
from ..core import ApiError, Context, ProviderSpec, digest, iso, loads
from ..engines import sar
from ..openapi import BOOL, LOCATION, NSTR, NTIME, NUM, OBJ, STR, TIME, Op, arr, code_message, enum, obj
from ..spec import register
from ..store import Job

NAME = "sateais"
TYPES = ("ship", "oilslick", "newbuilding", "disappearbuilding", "timeseries")
SCENE_TYPES = ("ship", "oilslick")  # one scene: scene_id or polygon + date
#: Median runtimes in seconds (before time_scale), from the documented typical runtimes.
RUNTIMES = {"ship": 900.0, "oilslick": 3000.0, "newbuilding": 600.0, "disappearbuilding": 600.0, "timeseries": 300.0}
AREA_CAP_SQKM = {"newbuilding": 30_000, "disappearbuilding": 30_000, "timeseries": 50}
TIMESERIES_MAX_YEARS = 3
MAX_CONCURRENT_JOBS = 5
STATUS = {
    "created": "pending",
    "queued": "pending",
    "processing": "processing",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
}
#: PC: what a job costs in the sandbox, and so what a preview estimates (one credit per job, docs/contracts.md §7).
CREDITS_PER_JOB = 1
GRD_NAME = re.compile(
    r"^S1[A-D]_[A-Z0-9]{2}_(?P<product>[A-Z_]{4})_\d[SA][A-Z]{2}_(?P<date>\d{8})T(?P<hour>\d{2})\d{4}"
    r"(_[A-Za-z0-9_]*)?$"
)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AnalyzeRequest(BaseModel):
    """The union of the documented bodies; which fields are required depends on the type."""

    model_config = ConfigDict(extra="ignore")
    satellite_id: str
    scene_id: str | None = None
    polygon: str | None = None
    date: str | None = None
    date_direction: Literal["before", "after", "nearest"] | None = None
    orbit_direction: Literal["ascending", "descending"] | None = None
    date_start: str | None = None
    date_end: str | None = None


@dataclass
class Plan:
    """A validated request: the AOI to analyse, the scenes it uses and the preview's warnings."""

    kind: str
    aoi_wkt: str
    area_sqkm: float
    scenes: list[sar.Scene]
    warnings: list[dict[str, str]] = field(default_factory=list)  # [{code, message}] as the SDK reads them


def error_body(err: ApiError) -> dict[str, Any]:
    return {"error": {"code": err.code, "message": err.message}}


def _invalid(message: str, code: str = "VALIDATION_ERROR") -> ApiError:
    return ApiError(NAME, 400, code, message)


def _date(name: str, value: str | None) -> date:
    if value is None:
        raise _invalid(f"{name} is required (YYYY-MM-DD)")
    if not DATE.match(value):
        raise _invalid(f"{name} must be a date in YYYY-MM-DD format, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as e:  # right format, impossible day: 2026-02-30
        raise _invalid(f"{name} {value!r} is not a real date ({e})") from None


def parse_polygon(wkt: str | None, kind: str) -> tuple[str, float]:
    """Validate a WKT AOI (EPSG:4326, lon lat); return it normalised and its geodesic area in km²."""
    import shapely
    from pyproj import Geod
    from shapely.validation import explain_validity

    if not wkt or not wkt.strip():
        raise _invalid("polygon is required: a WKT POLYGON in EPSG:4326 (lon lat)")
    try:
        geom = shapely.from_wkt(wkt)
    except shapely.errors.GEOSException as e:
        if "closed" in str(e):
            raise _invalid("Polygon ring is not closed: the first and last coordinates must be equal") from None
        raise _invalid(f"polygon is not valid WKT: {str(e).split(': ', 1)[-1]}") from None
    if geom.geom_type != "Polygon":  # docs: "Use a single WKT POLYGON" (contracts §2)
        raise _invalid(
            f"polygon must be a single WKT POLYGON, got {geom.geom_type.upper()}: send each part as a job of its own"
        )
    if geom.is_empty:
        raise _invalid("polygon is empty")
    if geom.has_z or getattr(geom, "has_m", False):  # PC: the docs give lon lat only
        raise _invalid("polygon must be 2-D (lon lat): drop the Z/M values")
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in geom.bounds):
        raise _invalid("polygon coordinates must be finite numbers")
    if minx < -180 or maxx > 180:
        raise _invalid(
            f"Longitude out of range: {minx if minx < -180 else maxx} (must be within -180..180; "
            "coordinates are lon lat, EPSG:4326)"
        )
    if miny < -90 or maxy > 90:
        raise _invalid(
            f"Latitude out of range: {miny if miny < -90 else maxy} (must be within -90..90; "
            "coordinates are lon lat, EPSG:4326)"
        )
    try:  # an edge spanning > 180° crosses the antimeridian (RFC 7946 §3.1.9): check the shape as drawn
        drawn = antimeridian.unwrap(geom) if antimeridian.crosses(geom) else geom
    except antimeridian.AntimeridianError as e:
        raise _invalid(f"Invalid polygon geometry: {e}") from None
    if not drawn.is_valid:
        raise _invalid(f"Invalid polygon geometry: {explain_validity(drawn)}")
    area = abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]) / 1e6
    if area <= 0:
        raise _invalid("polygon has zero area")
    cap = AREA_CAP_SQKM.get(kind)
    if cap is not None and area > cap:
        raise _invalid(f"Polygon area ({area:.1f} km²) exceeds {cap:,} km² limit for endpoint '{kind}'")
    return shapely.to_wkt(geom, rounding_precision=8, trim=True), area


def plan(kind: str, body: AnalyzeRequest) -> Plan:
    """Check a create/preview body for ``kind`` and resolve its scenes; raises the documented errors."""
    if body.satellite_id != "sentinel-1":
        raise _invalid(f"satellite_id must be 'sentinel-1', got {body.satellite_id!r}")
    if kind in SCENE_TYPES:
        if body.scene_id and body.polygon:
            raise _invalid("Provide exactly one of scene_id or polygon (+date), not both")
        if body.scene_id:
            return _plan_scene_id(kind, body.scene_id)
        if not body.polygon:
            raise _invalid("Provide exactly one of scene_id or polygon (+date)")
        aoi, area = parse_polygon(body.polygon, kind)
        on, direction = _date("date", body.date), body.date_direction or "nearest"
        scene = sar.find_scene(on, direction, body.orbit_direction)
        if scene is None:
            where = {"before": "before", "after": "after", "nearest": "around"}[direction]
            orbit = f" ({body.orbit_direction})" if body.orbit_direction else ""
            raise ApiError(
                NAME,
                404,
                "SCENE_NOT_FOUND",
                f"No Sentinel-1 GRD scene{orbit} within {sar.SEARCH_DAYS} days {where} {on.isoformat()}",
            )
        gap = abs((scene.date - on).days)
        days = f"{gap} day{'s' * (gap != 1)}"
        message = f"The selected scene ({scene.date.isoformat()}) is {days} from {on.isoformat()}"
        warnings = [{"code": "SCENE_DATE_OFFSET", "message": message}] if gap else []
        return Plan(kind, aoi, area, [scene], warnings)
    if body.scene_id:
        raise _invalid(f"scene_id is not supported for endpoint '{kind}'; send polygon, date_start and date_end")
    aoi, area = parse_polygon(body.polygon, kind)
    start, end = _date("date_start", body.date_start), _date("date_end", body.date_end)
    if start >= end:
        raise _invalid("date_start must be before date_end")
    if kind == "timeseries":
        limit = _add_years(start, TIMESERIES_MAX_YEARS)
        if end > limit:
            raise _invalid(
                f"Date range ({(end - start).days} days) exceeds {TIMESERIES_MAX_YEARS} year limit "
                f"for endpoint 'timeseries'"
            )
    scenes = sar.scenes_between(start, end, body.orbit_direction)
    if len(scenes) < 2:
        raise ApiError(
            NAME,
            404,
            "INSUFFICIENT_SCENES",
            f"Found {len(scenes)} Sentinel-1 scene(s) between {start} and {end}; at least 2 are required",
        )
    warnings = []
    if kind == "timeseries" and len(scenes) > sar.MAX_TIMESERIES_SCENES:
        message = f"{len(scenes)} scenes in range; {sar.MAX_TIMESERIES_SCENES} evenly spaced ones are analysed"
        warnings.append({"code": "SCENES_SUBSAMPLED", "message": message})
    return Plan(kind, aoi, area, scenes, warnings)


def _plan_scene_id(kind: str, scene_id: str) -> Plan:
    m = GRD_NAME.match(scene_id)
    if m is None:
        raise _invalid(f"scene_id {scene_id!r} is not a Sentinel-1 product name", "INVALID_SCENE")
    if not m["product"].startswith("GRD"):
        raise _invalid(
            f"Only GRD scenes are supported; {scene_id!r} is a {m['product'].rstrip('_')} product", "INVALID_SCENE"
        )
    try:
        on = date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
    except ValueError:
        raise _invalid(f"scene_id {scene_id!r} has an invalid acquisition date", "INVALID_SCENE") from None
    if not sar.EPOCH <= on <= sar.today():
        raise ApiError(NAME, 404, "SCENE_NOT_FOUND", f"Scene {scene_id} not found")
    aoi, area = parse_polygon(sar.scene_footprint(scene_id), kind)
    direction = "descending" if int(m["hour"]) < 12 else "ascending"
    return Plan(kind, aoi, area, [sar.Scene(scene_id, on, direction)])


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def preview_body(p: Plan, balance: int | None) -> dict[str, Any]:
    """The preview as the SDK 0.2.0 reads it (``_preview_from_dict``): coverage {method, requested_area_sqkm,
    ratio, polygon}, credits {estimated, balance, sufficient}, warnings [{code, message}].

    PC: the sandbox's archive covers every AOI whole, so ``ratio`` is 1.0 and ``polygon`` the AOI; a preview's
    method is always ``estimated`` (SDK docstring); ``balance`` is the key's credits left, null when unlimited.
    """
    ratio = 1.0
    return {
        "endpoint_id": p.kind,
        "area_sqkm": round(p.area_sqkm * ratio, 3),  # the area expected to be analysed
        "coverage": {
            "method": "estimated",
            "requested_area_sqkm": round(p.area_sqkm, 3),
            "ratio": ratio,
            "polygon": p.aoi_wkt,
        },
        "credits": {
            "estimated": CREDITS_PER_JOB,
            "balance": balance,
            "sufficient": balance is None or balance >= CREDITS_PER_JOB,
        },
        "warnings": p.warnings,
    }


async def _parse(request: Request) -> AnalyzeRequest:
    """The body, validated after authentication (so a bad key is 401 whatever the body)."""
    try:
        raw = loads(await request.body())  # ValueError also for over-deep nesting
    except ValueError:
        raise _invalid("Request body must be a JSON object") from None
    try:
        return AnalyzeRequest.model_validate(raw)
    except ValidationError as e:
        parts = [f"{'.'.join(str(x) for x in err['loc']) or 'body'}: {err['msg']}" for err in e.errors()]
        raise _invalid("Invalid request: " + "; ".join(parts)) from None


def build_router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["sateais"])
    storage = ctx.specs[NAME].storage_prefix
    body_doc = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AnalyzeRequest.model_json_schema()}},
        }
    }

    def job_body(job: Job) -> dict[str, Any]:
        failed = job.state in ("failed", "cancelled")
        return {
            "job_id": job.id,
            "status": STATUS[job.state],
            "created_at": iso(job.created_at),
            "completed_at": iso(job.completed_at),
            "result_path": f"/api/v1/jobs/{job.id}/result.geojson" if job.state == "succeeded" else None,
            "error_code": job.error_code if failed else None,
            "error_message": job.error_message if failed else None,
            "error": job.error_code if failed else None,  # deprecated alias of error_code
        }

    def load(request: Request, job_id: str) -> Job:
        tenant = ctx.authenticate(request, NAME)
        job = ctx.store.get(NAME, tenant.id, job_id)
        if job is None:
            raise ApiError(NAME, 404, "NOT_FOUND", f"Job {job_id} not found")
        return job

    async def validated(request: Request, kind: str) -> tuple[str, AnalyzeRequest, Plan]:
        tenant = ctx.authenticate(request, NAME)
        if kind not in TYPES:
            raise ApiError(NAME, 404, "NOT_FOUND", f"Unknown endpoint '{kind}'; one of {', '.join(TYPES)}")
        body = await _parse(request)
        return tenant.id, body, plan(kind, body)

    def too_many(tenant_id: str) -> ApiError:
        active, _ = ctx.store.list(NAME, tenant_id, states=["queued", "processing"], limit=MAX_CONCURRENT_JOBS)
        finish = [j.finish_at for j in active if j.finish_at]
        retry = min(60, max(1, math.ceil(min(finish) - time.time()))) if finish else 1
        return ApiError(
            NAME,
            429,
            "RATE_LIMIT_EXCEEDED",
            f"{MAX_CONCURRENT_JOBS} concurrent jobs per API key; wait for one to finish",
            headers={"Retry-After": str(retry)},
        )

    async def create(request: Request, kind: str = Path(alias="type")) -> JSONResponse:
        """Start an analysis; the job is ``pending`` until a worker picks it up."""
        tenant_id, body, p = await validated(request, kind)
        # No await between the count and the insert, so concurrent creates cannot both pass the check.
        if ctx.store.count_active(NAME, tenant_id) >= MAX_CONCURRENT_JOBS:
            raise too_many(tenant_id)
        canonical = {"type": kind, **body.model_dump(exclude_none=True)}
        with ctx.credits.charge(NAME, tenant_id):  # after validation: "before any credits are consumed"
            job = ctx.store.create_job(
                NAME,
                tenant_id,
                kind,
                request=canonical,
                input_digest=digest(json.dumps(canonical, sort_keys=True).encode()),
                data={"aoi": p.aoi_wkt, "area_sqkm": p.area_sqkm, "scenes": [s.as_dict() for s in p.scenes]},
            )
        ctx.enqueue(job, RUNTIMES[kind])
        return JSONResponse(job_body(ctx.store.get(NAME, tenant_id, job.id) or job), status_code=202)

    for verb in ("analyze", "detect"):
        r.add_api_route(
            f"/{verb}/{{type}}",
            create,
            methods=["POST"],
            status_code=202,
            openapi_extra=body_doc,
            name=f"{verb}_create",
        )

    @r.post("/analyze/{type}/preview", openapi_extra=body_doc)
    async def preview(request: Request, kind: str = Path(alias="type")) -> dict[str, Any]:
        """Free estimate: validates exactly like a create, creates no job; too few credits is no error but
        ``credits.sufficient: false`` (SDK 0.2.0)."""
        tenant_id, _, p = await validated(request, kind)
        return preview_body(p, ctx.credits.left(NAME, tenant_id))

    @r.get("/jobs/{job_id}")
    async def get_job(request: Request, job_id: str) -> dict[str, Any]:
        return job_body(load(request, job_id))

    @r.get("/jobs/{job_id}/result.geojson", status_code=302, response_class=RedirectResponse)
    async def get_result(request: Request, job_id: str) -> Response:
        """302 to a signed storage URL (no auth there); 404 until completed; 410 after retention."""
        job = load(request, job_id)
        if job.state != "succeeded":
            raise ApiError(NAME, 404, "NOT_FOUND", f"No result for job {job_id}: it is {STATUS[job.state]}")
        if ctx.expired(job, "sateais.retention"):
            raise ApiError(NAME, 410, "GONE", "Results are retained for 30 days after completion")
        url = ctx.signed_url(
            request, "GET", f"{storage}/{job.id}/result.geojson", ctx.config.window("sateais.storage_url")
        )
        return RedirectResponse(url, status_code=302)

    return r


def build_storage_router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get("/{job_id}/result.geojson")
    async def download(request: Request, job_id: str) -> Response:
        ctx.verify_signed(request, NAME)
        job = ctx.store.get_any(job_id)
        blob = ctx.store.read_blob(job_id, "result.geojson") if job and job.provider == NAME else None
        if blob is None or ctx.expired(job, "sateais.retention"):
            raise ApiError(NAME, 404, "NOT_FOUND", "The result object does not exist")
        return Response(blob, media_type="application/geo+json")

    return r


def make_engine(ctx: Context):
    def run(job: Job) -> dict[str, Any]:
        result = sar.analyze(job.kind, job.data["aoi"], job.data["scenes"])
        blob = json.dumps(result, separators=(",", ":")).encode()
        ctx.store.write_blob(job.id, "result.geojson", blob)
        return {"blob": "result.geojson", "feature_count": len(result["features"]), "digest": digest(blob)}

    return run


# -- OpenAPI facts ---------------------------------------------------------------------------------------
_JOB = obj(
    {
        "job_id": STR,
        "status": enum("pending", "processing", "completed", "failed"),
        "created_at": TIME,
        "completed_at": NTIME,
        "result_path": NSTR,
        "error_code": NSTR,
        "error_message": NSTR,
        "error": NSTR,
    }
)
_PREVIEW = obj(
    {
        "endpoint_id": STR,
        "area_sqkm": NUM,
        "coverage": obj(
            {"method": enum("measured", "estimated"), "requested_area_sqkm": NUM, "ratio": NUM, "polygon": STR}
        ),
        "credits": obj({"estimated": NUM, "balance": {"type": ["number", "null"]}, "sufficient": BOOL}),
        "warnings": arr(obj({"code": STR, "message": STR})),
    }
)
_ERRORS = (400, 404, 413)
_CREATE_ERRORS = (*_ERRORS, 402)  # a create costs a credit; the preview is free


_TEXT = {"type": "string", "minLength": 1}
_DAY = {"type": "string", "format": "date"}  # YYYY-MM-DD, a real day
#: What ``plan`` requires of every body, as far as JSON Schema can say it without the path's ``{type}``: a scene
#: by id, or a polygon with its date (ship, oilslick), or a polygon with its date range (the others).
_ANALYZE_BODY = {
    "properties": {
        "satellite_id": {"const": "sentinel-1"},
        **{name: {"anyOf": [_DAY, {"type": "null"}]} for name in ("date", "date_start", "date_end")},
    },
    "anyOf": [
        {"required": ["scene_id"], "properties": {"scene_id": _TEXT}},
        {"required": ["polygon", "date"], "properties": {"polygon": _TEXT, "date": _DAY}},
        {
            "required": ["polygon", "date_start", "date_end"],
            "properties": {"polygon": _TEXT, "date_start": _DAY, "date_end": _DAY},
        },
    ],
}


def operations(config: SandboxConfig) -> dict[tuple[str, str], Op]:
    """The routes' answers, by (METHOD, path under the prefix; signed: under the storage prefix)."""
    body, params = _ANALYZE_BODY, {"type": enum(*TYPES)}
    geojson = obj({"type": {"const": "FeatureCollection"}, "features": arr(OBJ)})
    return {
        ("POST", "/analyze/{type}"): Op({202: _JOB}, _CREATE_ERRORS, body=body, params=params),
        ("POST", "/detect/{type}"): Op({202: _JOB}, _CREATE_ERRORS, body=body, params=params),
        ("POST", "/analyze/{type}/preview"): Op({200: _PREVIEW}, _ERRORS, body=body, params=params),
        ("GET", "/jobs/{job_id}"): Op({200: _JOB}, (404,)),
        ("GET", "/jobs/{job_id}/result.geojson"): Op({302: None}, (404, 410), headers=LOCATION),
        ("GET", "/{job_id}/result.geojson"): Op(
            {200: geojson}, (403, 404), signed=True, content="application/geo+json"
        ),
    }


SPEC = register(
    ProviderSpec(
        name=NAME,
        title="SateAIs",
        prefixes=["/sateais/api/v1"],
        build_router=build_router,
        error_body=error_body,
        error_schema=obj({"error": code_message()}),
        engine=make_engine,
        storage_router=build_storage_router,
        demo_key="sk_live_sandbox_sateais",
        runtime=600.0,  # per-type medians: RUNTIMES
        windows={"retention": 30 * DAY, "storage_url": 3600.0},
        rate_limits={"api": [(50, 5.0)]},  # 10 rps with a burst of 50
        fail_code="INTERNAL_ERROR",
        unauthorized_code="UNAUTHORIZED",
        rate_limited_code="RATE_LIMIT_EXCEEDED",
        not_found_code="NOT_FOUND",
        payment_required=(
            "INSUFFICIENT_CREDITS",
            "Insufficient credits: this API key has no credits left.",
        ),  # documented
        operations=operations,
    )
)
