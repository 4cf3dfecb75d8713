"""Animal Detect results as a Camtrap DP 1.0.2 (or 1.0.1) package (``tk.load.to_camtrap_dp``), and the MegaDetector
exporters re-exported from ``toolkit.load.megadetector``.

Camtrap DP (https://camtrap-dp.tdwg.org): ``deployments.csv``, ``media.csv``, ``observations.csv`` and
``datapackage.json``, media-level observations with machine classifications and bounding boxes. Deployment
coordinates come from a deployments table, from arguments, or from the images' EXIF GPS; a package that would
not validate (no coordinates, an impossible value) is refused with an error naming the deployments, and
nothing is written: the files go to a temporary folder first and are moved into place only when complete.

Built on the per-image facts of ``toolkit.load.animaldetect`` (``image_facts``); that module does not import
this one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from PIL import Image

from ..client.model import ToolkitError
from ._camtrap_check import check_deployment, file_path, integer_fields, media_root as _media_root
from .animaldetect import image_facts
from .megadetector import from_megadetector, to_megadetector

__all__ = ["to_megadetector", "from_megadetector", "to_camtrap_dp", "CamtrapDPError"]

CAMTRAP_VERSION = "1.0.2"  # the current release; 1.0.1 on request (version=)
VERSIONS = ("1.0.1", "1.0.2")
_SCHEMA = "https://raw.githubusercontent.com/tdwg/camtrap-dp/{v}/{name}-table-schema.json"
DEPLOYMENT_COLUMNS = (
    "deploymentID locationID locationName latitude longitude coordinateUncertainty deploymentStart "
    "deploymentEnd setupBy cameraID cameraModel cameraDelay cameraHeight cameraDepth cameraTilt "
    "cameraHeading detectionDistance timestampIssues baitUse featureType habitat deploymentGroups "
    "deploymentTags deploymentComments"
).split()
MEDIA_COLUMNS = (
    "mediaID deploymentID captureMethod timestamp filePath filePublic fileName fileMediatype exifData "
    "favorite mediaComments"
).split()
OBSERVATION_COLUMNS = (
    "observationID deploymentID mediaID eventID eventStart eventEnd observationLevel observationType "
    "cameraSetupType scientificName count lifeStage sex behavior individualID individualPositionRadius "
    "individualPositionAngle individualSpeed bboxX bboxY bboxWidth bboxHeight classificationMethod "
    "classifiedBy classificationTimestamp classificationProbability observationTags observationComments"
).split()


# -- Camtrap DP --------------------------------------------------------------------------------------------
# Required (constraints.required) in the 1.0.1 table schemas: checked before anything is written.
_REQUIRED = {
    "deployments": ("deploymentID", "latitude", "longitude", "deploymentStart", "deploymentEnd"),
    "media": ("mediaID", "deploymentID", "timestamp", "filePath", "filePublic", "fileMediatype"),
    "observations": (
        "observationID",
        "deploymentID",
        "eventStart",
        "eventEnd",
        "observationLevel",
        "observationType",
    ),
}
_TABLE_ALIASES = {"start": "deploymentStart", "end": "deploymentEnd"}
_GPS_IFD = 0x8825


class CamtrapDPError(ToolkitError, ValueError):
    """A Camtrap DP package that would not be valid; nothing was written."""


def to_camtrap_dp(
    source: Any,
    folder: str | Path,
    deployment_id: str | None = None,
    *,
    deployments: str | Path | pd.DataFrame | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    tz: str = "UTC",
    threshold: float | None = None,
    name: str = "toolkit-animaldetect",
    capture_method: str = "activityDetection",
    media_root: str | Path | None = None,
    version: str = CAMTRAP_VERSION,
) -> Path:
    """Write a Camtrap DP 1.0.2 package (``version="1.0.1"`` for the previous release) (deployments, media, observations CSVs + datapackage.json) to ``folder``.

    One deployment per ``deployment_id`` (default: per camera found in EXIF or file names, else ``"unknown"``).
    Coordinates, first found wins: the ``deployments`` table (CSV path or DataFrame with ``deploymentID``,
    ``latitude``, ``longitude`` and optionally ``start``/``end`` (or ``deploymentStart``/``deploymentEnd``) and
    any other deployments column, e.g. ``setupBy``, ``cameraHeight``, ``habitat``), then ``latitude``/
    ``longitude``, then the EXIF GPS of the deployment's images (median), then the job options. A deployment
    without coordinates raises ``CamtrapDPError`` naming it, and nothing is written.

    Capture times are camera wall clock read in zone ``tz``; an image without one uses its file time and its
    deployment gets ``timestampIssues=true``. Boxes at or above ``threshold`` (default: all the service
    returned) become media-level ``animal``/``human``/``vehicle`` observations; a processed image without any
    is one ``blank`` observation; images that were not processed are media without observations. Returns the
    path of ``datapackage.json``.

    ``media.filePath`` is each image's path relative to ``media_root`` (default: the images' common folder), as
    the schema's pattern wants it (no leading ``.``, ``/`` or ``~``, no ``..``): keep the package beside that
    folder, or give the folder the media will be published under. The deployments table is checked against the
    official deployments schema first: a value it refuses raises ``CamtrapDPError`` naming the deployment, the
    field, the value and what is allowed (``"none"`` for a boolean such as ``baitUse`` is read as false).
    File names are written as they are (Camtrap DP is read by the field's tools, not by spreadsheets).
    """
    if version not in VERSIONS:
        raise CamtrapDPError(f"Camtrap DP version {version!r} is not supported: use one of {', '.join(VERSIONS)}")
    zone = ZoneInfo(tz)
    table = _deployment_table(deployments, zone)
    media, obs, issues = [], [], set()
    for im in image_facts(source, read_files=True):
        dep = deployment_id or im["capture"].camera or "unknown"
        when = im["capture"].captured_at
        if when is None:
            issues.add(dep)
            when = (
                datetime.fromtimestamp(os.path.getmtime(im["file"]))
                if im["file"] and os.path.exists(im["file"])
                else datetime.fromtimestamp(im["submitted_at"] or 0)
            )
        stamp = _iso(when.replace(tzinfo=zone))
        media_id = str(im["job_id"] or im["file"])
        comment = None if im["annotations"] is not None else f"not processed: {im['failure']}"
        media.append(
            {
                "mediaID": media_id,
                "deploymentID": dep,
                "captureMethod": capture_method,
                "timestamp": stamp,
                "_file": im["file"],
                "filePublic": False,
                "fileName": os.path.basename(im["file"] or ""),
                "fileMediatype": _mediatype(im["file"]),
                "mediaComments": comment,
                "_when": when,
                "_camera_model": im["capture"].camera_model,
                "_options": im["options"],
                "_gps": _gps(im["file"]),
            }
        )
        if im["annotations"] is not None:
            obs.extend(_observations(im, dep, media_id, stamp, threshold))
    root, unplaced = _media_root([m["_file"] for m in media], media_root), []
    for m in media:
        m["filePath"], why = file_path(m["_file"], root)
        if why:
            unplaced.append(f"media {m['mediaID']}: {why}")
    if unplaced:
        raise CamtrapDPError("no media.filePath for " + "; ".join(unplaced[:5]) + ". Nothing was written.")
    rows = _deployments(media, issues, table, latitude, longitude, zone)
    package = _package(name, rows, obs, media, version)
    _check({"deployments": rows, "media": media, "observations": obs})
    return _write_package(Path(folder), rows, media, obs, package)


def _observations(
    im: dict[str, Any], dep: str, media_id: str, stamp: str, threshold: float | None
) -> list[dict[str, Any]]:
    """The media-level observations of one processed image: one per box kept, or one ``blank``."""
    boxes = [a for a in im["annotations"] if threshold is None or (a.get("score") or 0) >= threshold]
    classified_by = " ".join(str(x) for x in (im["model_id"], im["model_version"]) if x) or None
    classified_at = _iso(datetime.fromtimestamp(im["finished_at"], timezone.utc)) if im["finished_at"] else None
    common: dict[str, str | None] = {"deploymentID": dep, "mediaID": media_id, "eventStart": stamp, "eventEnd": stamp}
    common |= {"observationLevel": "media", "classificationMethod": "machine", "classifiedBy": classified_by}
    out = []
    for a in boxes:
        kind, sci = _observation_type(a)
        x, y, w, h = (min(1.0, max(0.0, float(v))) for v in a.get("bbox") or [0, 0, 0, 0])
        out.append(
            {
                "observationID": f"{media_id}-{a.get('id')}",
                **common,
                "observationType": kind,
                "scientificName": sci,
                "count": 1,
                "bboxX": x,
                "bboxY": y,
                "bboxWidth": min(w, 1.0 - x),
                "bboxHeight": min(h, 1.0 - y),
                "classificationTimestamp": classified_at,
                "classificationProbability": float(a.get("score") or 0.0),
                "observationTags": f"label:{a.get('label')}",
                "_label": a.get("label"),
                "_taxon_id": (a.get("taxonomy") or {}).get("id"),
            }
        )
    if not boxes:
        out.append({"observationID": f"{media_id}-blank", **common, "observationType": "blank"})
    return out


def _observation_type(ann: dict[str, Any]) -> tuple[str, str | None]:
    label = str(ann.get("label") or "")
    t = ann.get("taxonomy") or {}
    if label in ("human", "person"):
        return "human", "Homo sapiens"
    if label == "vehicle":
        return "vehicle", None
    if t.get("genus") and t.get("species"):
        return "animal", f"{str(t['genus']).capitalize()} {str(t['species']).lower()}"
    for rank in ("genus", "family", "order", "class", "phylum", "kingdom"):
        if t.get(rank):
            return "animal", str(t[rank]).capitalize()
    return "animal", None


def _deployment_table(table: str | Path | pd.DataFrame | None, zone: ZoneInfo) -> dict[str, dict[str, Any]]:
    """``deploymentID -> row`` of a deployments table, columns named as in Camtrap DP, times tz-aware ISO."""
    if table is None:
        return {}
    what = f"deployments table {str(table)!r}" if not isinstance(table, pd.DataFrame) else "deployments table"
    if not isinstance(table, pd.DataFrame):
        if not Path(table).is_file():
            raise CamtrapDPError(f"{what}: the file does not exist")
        table = pd.read_csv(table, dtype={"deploymentID": str})
    df = table.rename(columns=_TABLE_ALIASES)
    missing = [c for c in ("deploymentID", "latitude", "longitude") if c not in df.columns]
    if missing:
        raise CamtrapDPError(f"{what}: no column {', '.join(missing)} (it needs deploymentID, latitude, longitude)")
    dupes = sorted(set(df["deploymentID"][df["deploymentID"].duplicated()].astype(str)))
    if dupes:
        raise CamtrapDPError(f"{what}: deploymentID {', '.join(dupes)} appears more than once")
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for rec in df[[c for c in df.columns if c in DEPLOYMENT_COLUMNS]].to_dict("records"):
        row = {str(k): v for k, v in rec.items() if not _missing(v)}  # the column names, as str
        for key in ("deploymentStart", "deploymentEnd"):
            if key in row:
                try:
                    ts = pd.Timestamp(row[key])
                except ValueError:
                    raise CamtrapDPError(f"{what}: {key} {row[key]!r} of {rec['deploymentID']} is not a date") from None
                row[key] = _iso((ts.tz_localize(zone) if ts.tzinfo is None else ts).to_pydatetime())
        out[str(rec["deploymentID"])] = check_deployment(str(rec["deploymentID"]), row, problems)
    if problems:
        raise CamtrapDPError(
            f"{what} does not fit the Camtrap DP deployments schema, nothing was written: " + "; ".join(problems)
        )
    return out


def _gps(file: str | None) -> tuple[float, float] | None:
    """(latitude, longitude) from an image's EXIF GPS, or None."""
    if not file or not os.path.isfile(file):
        return None
    try:
        with Image.open(file) as img:
            gps = img.getexif().get_ifd(_GPS_IFD)
        lat, lon = (sum(float(v) / 60**i for i, v in enumerate(gps[k])) for k in (2, 4))
    except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError, SyntaxError):
        return None
    lat, lon = (-lat if gps.get(1) == "S" else lat), (-lon if gps.get(3) == "W" else lon)
    return (lat, lon) if math.isfinite(lat) and math.isfinite(lon) else None


def _deployments(
    media: list[dict[str, Any]],
    issues: set[str],
    table: dict[str, dict[str, Any]],
    lat: float | None,
    lon: float | None,
    zone: ZoneInfo,
) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in media:
        groups.setdefault(m["deploymentID"], []).append(m)
    rows, unplaced = [], []
    for dep, ms in groups.items():
        given = table.get(dep, {})
        opts: dict[str, Any] = next((m["_options"] for m in ms if "latitude" in m["_options"]), {})
        fixes = [m["_gps"] for m in ms if m["_gps"]]
        if "latitude" in given and "longitude" in given:
            where = (given["latitude"], given["longitude"])
        elif lat is not None and lon is not None:
            where = (lat, lon)
        elif fixes:
            where = (statistics.median(f[0] for f in fixes), statistics.median(f[1] for f in fixes))
        elif opts.get("latitude") is not None and opts.get("longitude") is not None:
            where = (opts["latitude"], opts["longitude"])
        else:
            unplaced.append(dep)
            where = (None, None)
        whens = [m["_when"] for m in ms]
        models = {m["_camera_model"] for m in ms if m["_camera_model"]}
        row = {
            "deploymentID": dep,
            "latitude": None if where[0] is None else round(float(where[0]), 6),
            "longitude": None if where[1] is None else round(float(where[1]), 6),
            "deploymentStart": _iso(min(whens).replace(tzinfo=zone)),
            "deploymentEnd": _iso(max(whens).replace(tzinfo=zone)),
            "cameraID": None if dep == "unknown" else dep,
            "cameraModel": models.pop() if len(models) == 1 else None,
            "timestampIssues": dep in issues,
        }
        rows.append({**row, **{k: v for k, v in given.items() if k not in ("latitude", "longitude")}})
    if unplaced:
        raise CamtrapDPError(
            f"Camtrap DP needs the coordinates of every deployment; none for {', '.join(sorted(unplaced))}: "
            "give deployments= (a CSV or DataFrame with deploymentID, latitude, longitude), latitude=/longitude=, "
            "or images with EXIF GPS. Nothing was written."
        )
    return rows


def _check(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Refuse what the 1.0.1 table schemas would: empty required fields, coordinates out of range."""
    problems = []
    for table, rows in tables.items():
        for row in rows:
            empty = [c for c in _REQUIRED[table] if _missing(row.get(c))]
            if empty:
                key = row.get(f"{table.rstrip('s')}ID") or row.get("observationID") or row.get("mediaID")
                problems.append(f"{table} {key}: no {', '.join(empty)}")
    for row in tables["deployments"]:
        if not (-90 <= float(row["latitude"]) <= 90 and -180 <= float(row["longitude"]) <= 180):
            problems.append(
                f"deployment {row['deploymentID']}: latitude {row['latitude']}, longitude "
                f"{row['longitude']} out of range (-90..90, -180..180; lat/lon swapped?)"
            )
        if row["deploymentStart"] > row["deploymentEnd"]:
            problems.append(f"deployment {row['deploymentID']}: deploymentStart is after deploymentEnd")
    if problems:
        raise CamtrapDPError("the Camtrap DP package would not be valid, nothing was written: " + "; ".join(problems))


def _write_package(
    out: Path, deployments: list[dict[str, Any]], media: list[dict[str, Any]], obs: list[dict[str, Any]], pkg: dict
) -> Path:
    """Write the four files to a temporary folder beside ``out``, then move them in (datapackage.json last)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_csv(tmp / "deployments.csv", deployments, DEPLOYMENT_COLUMNS)
        _write_csv(tmp / "media.csv", media, MEDIA_COLUMNS)
        _write_csv(tmp / "observations.csv", obs, OBSERVATION_COLUMNS)
        (tmp / "datapackage.json").write_text(json.dumps(pkg, indent=2))
        out.mkdir(exist_ok=True)
        (out / "datapackage.json").unlink(missing_ok=True)  # a half-replaced folder never looks like a package
        for name in ("deployments.csv", "media.csv", "observations.csv", "datapackage.json"):
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "datapackage.json"


def _package(
    name: str, deployments: list[dict[str, Any]], obs: list[dict[str, Any]], media: list[dict[str, Any]], version: str
) -> dict[str, Any]:
    resources = [
        {
            "name": n,
            "path": f"{n}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": _SCHEMA.format(v=version, name=n),
        }
        for n in ("deployments", "media", "observations")
    ]
    package: dict[str, Any] = {
        "resources": resources,
        "profile": f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{version}/camtrap-dp-profile.json",
        "name": name,
        "created": _iso(datetime.now(timezone.utc)),
        "contributors": [{"title": "toolkit (Animal Detect results)", "role": "contributor"}],
        "project": {
            "title": name,
            "samplingDesign": "opportunistic",
            "captureMethod": sorted({m["captureMethod"] for m in media}),
            "individualAnimals": False,
            "observationLevel": ["media"],
        },
        "spatial": _extent(deployments),
        "temporal": {
            "start": min(d["deploymentStart"] for d in deployments)[:10] if deployments else None,
            "end": max(d["deploymentEnd"] for d in deployments)[:10] if deployments else None,
        },
        "taxonomic": _taxonomic(obs),
    }
    return package


def _extent(deployments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The deployments' bounding box as an RFC 7946 Polygon, counter-clockwise; a side of zero length (one place,
    or places on one meridian or parallel) is widened to 0.0001°, about 11 m, so the ring encloses an area."""
    points = {(float(d["longitude"]), float(d["latitude"])) for d in deployments if not _missing(d.get("latitude"))}
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    (x0, x1), (y0, y1) = _widen(min(xs), max(xs), 180), _widen(min(ys), max(ys), 90)
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _widen(lo: float, hi: float, limit: float) -> tuple[float, float]:
    if hi > lo:
        return lo, hi
    return round(max(-limit, lo - 0.00005), 7), round(min(limit, hi + 0.00005), 7)


def _taxonomic(obs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per scientific name observed, with its rank, the service's taxon id and English label."""
    taxa: dict[str, dict[str, Any]] = {}
    for o in obs:
        sci = o.get("scientificName")
        if not sci or sci in taxa:
            continue
        entry: dict[str, Any] = {"scientificName": sci}
        if o.get("_taxon_id"):
            entry["taxonID"] = str(o["_taxon_id"])
        entry["taxonRank"] = "species" if " " in sci else None
        if o.get("_label") and str(o["_label"]).lower() != sci.lower():
            entry["vernacularNames"] = {"eng": str(o["_label"])}
        taxa[sci] = {k: v for k, v in entry.items() if v is not None}
    return [taxa[k] for k in sorted(taxa)]


def _missing(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Camtrap DP CSV: its column order, booleans as true/false, integers without a decimal point."""
    df = pd.DataFrame([{c: _cell(r.get(c)) for c in columns} for r in rows], columns=columns)
    for name in ("count", *integer_fields()):  # integers without ".0", even beside an empty cell
        if name in df.columns:
            df[name] = pd.array(df[name], dtype="Int64")  # type: ignore[call-overload]  # pandas-stubs: no Series
    df.to_csv(path, index=False)


def _cell(v: Any) -> Any:
    return ("true" if v else "false") if isinstance(v, (bool, np.bool_)) else v


def _iso(dt: datetime) -> str:
    s = dt.isoformat(timespec="seconds")
    return s[:-6] + "Z" if s.endswith("+00:00") else s


def _mediatype(file: str | None) -> str:
    ext = os.path.splitext(file or "")[1].lower()
    return {".png": "image/png", ".webp": "image/webp"}.get(ext, "image/jpeg")
