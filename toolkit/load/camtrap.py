"""Animal Detect results to and from the formats camera-trap tools read (``tk.load.to_megadetector`` & co.).

Built on the per-image facts of ``toolkit.load.animaldetect`` (``image_facts``, ``detections``); that module
does not import this one.

- MegaDetector batch output (format 1.5, https://lila.science/megadetector-output-format): read by Timelapse,
  MegaDetector postprocessing, AddaxAI, Camelot importers. String category ids, ``conf``, normalized
  ``[x_min, y_min, width, height]``, ``failure`` (with ``detections: null``) for images not processed.
  Species labels become ``classifications``; taxonomy goes to ``classification_category_descriptions`` in
  SpeciesNet's ``id;class;order;family;genus;species;common name`` form, so it survives the round trip.
- Camtrap DP 1.0 (https://camtrap-dp.tdwg.org): ``deployments.csv``, ``media.csv``, ``observations.csv`` and
  ``datapackage.json``, media-level observations with machine classifications and bounding boxes.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .animaldetect import detections, image_facts

__all__ = ["to_megadetector", "from_megadetector", "to_camtrap_dp"]

FORMAT_VERSION = "1.5"
MD_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
_MD_ID = {"animal": "1", "person": "2", "human": "2", "vehicle": "3"}
_TAXON_KEYS = ("class", "order", "family", "genus", "species")
CAMTRAP_VERSION = "1.0.1"
_SCHEMA = "https://raw.githubusercontent.com/tdwg/camtrap-dp/{v}/{name}-table-schema.json"
DEPLOYMENT_COLUMNS = [
    "deploymentID",
    "locationID",
    "locationName",
    "latitude",
    "longitude",
    "coordinateUncertainty",
    "deploymentStart",
    "deploymentEnd",
    "setupBy",
    "cameraID",
    "cameraModel",
    "cameraDelay",
    "cameraHeight",
    "cameraDepth",
    "cameraTilt",
    "cameraHeading",
    "detectionDistance",
    "timestampIssues",
    "baitUse",
    "featureType",
    "habitat",
    "deploymentGroups",
    "deploymentTags",
    "deploymentComments",
]
MEDIA_COLUMNS = [
    "mediaID",
    "deploymentID",
    "captureMethod",
    "timestamp",
    "filePath",
    "filePublic",
    "fileName",
    "fileMediatype",
    "exifData",
    "favorite",
    "mediaComments",
]
OBSERVATION_COLUMNS = [
    "observationID",
    "deploymentID",
    "mediaID",
    "eventID",
    "eventStart",
    "eventEnd",
    "observationLevel",
    "observationType",
    "cameraSetupType",
    "scientificName",
    "count",
    "lifeStage",
    "sex",
    "behavior",
    "individualID",
    "individualPositionRadius",
    "individualPositionAngle",
    "individualSpeed",
    "bboxX",
    "bboxY",
    "bboxWidth",
    "bboxHeight",
    "classificationMethod",
    "classifiedBy",
    "classificationTimestamp",
    "classificationProbability",
    "observationTags",
    "observationComments",
]


# -- MegaDetector ------------------------------------------------------------------------------------------


def to_megadetector(source: Any, path: str | Path | None = None, *, root: str | Path | None = None) -> dict[str, Any]:
    """MegaDetector batch-output JSON (format 1.5) of Animal Detect results; written to ``path`` when given.

    ``file`` entries are relative to ``root`` (default: the folder all images share), with ``/`` separators,
    as Timelapse expects; ``info.toolkit.image_root`` records that folder so ``from_megadetector`` can
    restore full paths.
    """
    images = image_facts(source, read_files=False)
    files = [im["file"] for im in images if im["file"]]
    base = Path(root) if root is not None else _common_root(files)
    labels: dict[str, str] = {}  # classification label -> id
    descriptions: dict[str, str] = {}
    out_images: list[dict[str, Any]] = []
    info_src = next((im for im in images if im["model_id"]), None)
    for im in images:
        entry: dict[str, Any] = {"file": _relative(im["file"] or str(im["job_id"]), base)}
        if im["annotations"] is None:
            entry.update(failure=im["failure"] or "not processed", detections=None)
            out_images.append(entry)
            continue
        if im["capture"].width and im["capture"].height:
            entry["width"], entry["height"] = im["capture"].width, im["capture"].height
        dets = []
        for a in im["annotations"]:
            label = str(a.get("label") or "animal")
            det: dict[str, Any] = {
                "category": _MD_ID.get(label, "1"),
                "conf": float(a.get("score") or 0.0),
                "bbox": [float(v) for v in (a.get("bbox") or [0, 0, 0, 0])],
            }
            if label not in MD_CATEGORIES.values():  # a species (or "human"): a classification
                cands = [
                    (c.get("label"), c.get("score"), c.get("taxonomy"))
                    for c in a.get("top_candidates") or []
                    if c.get("label")
                ]
                if label not in [c[0] for c in cands]:
                    cands.insert(0, (label, a.get("score"), a.get("taxonomy")))
                cls = []
                for name, score, taxonomy in sorted(cands, key=lambda c: -(c[1] or 0.0)):
                    cid = labels.setdefault(str(name), str(len(labels)))
                    if cid not in descriptions:
                        descriptions[cid] = _description(str(name), taxonomy or {})
                    cls.append([cid, float(score if score is not None else det["conf"])])
                det["classifications"] = cls
            dets.append(det)
        entry["detections"] = dets
        out_images.append(entry)
    done = [im["finished_at"] for im in images if im["finished_at"]]
    when = datetime.fromtimestamp(max(done), timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if done else None
    info: dict[str, Any] = {"format_version": FORMAT_VERSION}
    if info_src:
        info["detector"] = info_src["model_id"]
        info["detection_completion_time"] = when
        thr = info_src["threshold"]
        info["detector_metadata"] = {
            "model_version": info_src["model_version"],
            "provider": "animaldetect",
            **(
                {"typical_detection_threshold": thr, "conservative_detection_threshold": thr} if thr is not None else {}
            ),
        }
        if labels:
            info["classifier"] = info_src["model_id"]
            info["classification_completion_time"] = when
    info["toolkit"] = {"image_root": str(base) if base is not None else None}
    md: dict[str, Any] = {"info": info, "detection_categories": dict(MD_CATEGORIES)}
    if labels:
        md["classification_categories"] = {cid: name for name, cid in labels.items()}
        md["classification_category_descriptions"] = descriptions
    md["images"] = out_images
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(md, indent=1))
    return md


def from_megadetector(path_or_dict: str | Path | dict[str, Any], *, root: str | Path | None = None) -> pd.DataFrame:
    """A MegaDetector batch-output file (any 1.x) -> the ``detections`` frame (one row per box).

    The label is the top classification when there is one, else the detection category name; taxonomy ranks
    come from SpeciesNet-style ``classification_category_descriptions``. ``file`` is joined to ``root``
    (default: ``info.toolkit.image_root`` when this toolkit wrote the file). Images that failed or had no
    detections are in ``df.attrs["images"]`` (file, failure, n_boxes).
    """
    md = path_or_dict if isinstance(path_or_dict, dict) else json.loads(Path(path_or_dict).read_text())
    cats = md.get("detection_categories") or MD_CATEGORIES
    classes = md.get("classification_categories") or {}
    desc = md.get("classification_category_descriptions") or {}
    info = md.get("info") or {}
    meta = info.get("detector_metadata") or {}
    base = root if root is not None else (info.get("toolkit") or {}).get("image_root")
    recs = []
    for im in md.get("images") or []:
        file = str(PurePosixPath(base) / im["file"]) if base and not os.path.isabs(im["file"]) else im["file"]
        if im.get("failure") or im.get("detections") is None:
            recs.append(
                {
                    "job_id": None,
                    "input": file,
                    "status": "failed",
                    "error_code": None,
                    "error_message": im.get("failure") or "not processed",
                    "result": None,
                }
            )
            continue
        anns = []
        for i, d in enumerate(im["detections"]):
            label = cats.get(str(d.get("category")), "unknown")
            taxonomy: dict[str, str] = {}
            if d.get("classifications"):
                cid = str(d["classifications"][0][0])
                label = classes.get(cid, label)
                taxonomy = _parse_description(desc.get(cid, ""))
            anns.append({"id": i, "bbox": d.get("bbox"), "score": d.get("conf"), "label": label, "taxonomy": taxonomy})
        result = {
            "annotations": anns,
            "info": {"model_id": info.get("detector"), "model_version": meta.get("model_version")},
        }
        if im.get("width") and im.get("height"):
            result["metadata"] = {"image_width": im["width"], "image_height": im["height"]}
        recs.append({"job_id": None, "input": file, "status": "succeeded", "result": result})
    df = detections(recs, read_files=False)
    df.attrs["images"] = pd.DataFrame(
        {
            "file": [r["input"] for r in recs],
            "failure": [r.get("error_message") for r in recs],
            "n_boxes": pd.array(
                [len(r["result"]["annotations"]) if r["result"] else None for r in recs], dtype="Int64"
            ),
        }
    )
    df.attrs["info"] = info
    return df


def _description(label: str, taxonomy: dict[str, Any]) -> str:
    return ";".join([str(taxonomy.get("id") or "")] + [str(taxonomy.get(k) or "") for k in _TAXON_KEYS] + [label])


def _parse_description(text: str) -> dict[str, str]:
    parts = text.split(";")
    if len(parts) != 7:
        return {}
    out = {"id": parts[0], **dict(zip(_TAXON_KEYS, parts[1:6]))}
    return {k: v for k, v in out.items() if v}


def _common_root(files: list[str]) -> Path | None:
    dirs = [os.path.dirname(os.path.abspath(f)) for f in files]
    if not dirs:
        return None
    try:
        return Path(os.path.commonpath(dirs))
    except ValueError:  # different drives
        return None


def _relative(file: str, base: Path | None) -> str:
    if base is None:
        return file.replace("\\", "/")
    try:
        return Path(os.path.abspath(file)).relative_to(base).as_posix()
    except ValueError:
        return file.replace("\\", "/")


# -- Camtrap DP --------------------------------------------------------------------------------------------


def to_camtrap_dp(
    source: Any,
    folder: str | Path,
    deployment_id: str | None = None,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    tz: str = "UTC",
    threshold: float | None = None,
    name: str = "toolkit-animaldetect",
    capture_method: str = "activityDetection",
) -> Path:
    """Write a Camtrap DP 1.0 package (deployments, media, observations CSVs + datapackage.json) to ``folder``.

    One deployment per ``deployment_id`` (default: per camera found in EXIF or file names, else ``"unknown"``).
    Capture times are camera wall clock read in zone ``tz``; an image without one uses its file time and its
    deployment gets ``timestampIssues=true``. Boxes at or above ``threshold`` (default: all the service
    returned) become media-level ``animal``/``human``/``vehicle`` observations; a processed image without any
    is one ``blank`` observation; images that were not processed are media without observations.
    ``latitude``/``longitude`` default to the job options. Returns the path of ``datapackage.json``.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    zone = ZoneInfo(tz)
    media, obs, issues = [], [], set()
    images = image_facts(source, read_files=True)
    for im in images:
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
                "filePath": im["file"],
                "filePublic": False,
                "fileName": os.path.basename(im["file"] or ""),
                "fileMediatype": _mediatype(im["file"]),
                "mediaComments": comment,
                "_when": when,
                "_camera_model": im["capture"].camera_model,
                "_options": im["options"],
            }
        )
        if im["annotations"] is None:
            continue
        boxes = [a for a in im["annotations"] if threshold is None or (a.get("score") or 0) >= threshold]
        classified_by = " ".join(str(x) for x in (im["model_id"], im["model_version"]) if x) or None
        for a in boxes:
            kind, sci = _observation_type(a)
            x, y, w, h = (min(1.0, max(0.0, float(v))) for v in a.get("bbox") or [0, 0, 0, 0])
            obs.append(
                {
                    "observationID": f"{media_id}-{a.get('id')}",
                    "deploymentID": dep,
                    "mediaID": media_id,
                    "eventStart": stamp,
                    "eventEnd": stamp,
                    "observationLevel": "media",
                    "observationType": kind,
                    "scientificName": sci,
                    "count": 1,
                    "bboxX": x,
                    "bboxY": y,
                    "bboxWidth": min(w, 1.0 - x),
                    "bboxHeight": min(h, 1.0 - y),
                    "classificationMethod": "machine",
                    "classifiedBy": classified_by,
                    "classificationTimestamp": _iso(datetime.fromtimestamp(im["finished_at"], timezone.utc))
                    if im["finished_at"]
                    else None,
                    "classificationProbability": float(a.get("score") or 0.0),
                    "observationTags": f"label:{a.get('label')}",
                }
            )
        if not boxes:
            obs.append(
                {
                    "observationID": f"{media_id}-blank",
                    "deploymentID": dep,
                    "mediaID": media_id,
                    "eventStart": stamp,
                    "eventEnd": stamp,
                    "observationLevel": "media",
                    "observationType": "blank",
                    "classificationMethod": "machine",
                    "classifiedBy": classified_by,
                }
            )
    deployments = _deployments(media, issues, latitude, longitude, zone)
    _write_csv(out / "deployments.csv", deployments, DEPLOYMENT_COLUMNS)
    _write_csv(out / "media.csv", media, MEDIA_COLUMNS)
    _write_csv(out / "observations.csv", obs, OBSERVATION_COLUMNS)
    package = _package(name, deployments, obs, media)
    (out / "datapackage.json").write_text(json.dumps(package, indent=2))
    return out / "datapackage.json"


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


def _deployments(
    media: list[dict[str, Any]], issues: set[str], lat: float | None, lon: float | None, zone: ZoneInfo
) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in media:
        groups.setdefault(m["deploymentID"], []).append(m)
    rows = []
    for dep, ms in groups.items():
        opts = next((m["_options"] for m in ms if "latitude" in m["_options"]), {})
        whens = [m["_when"] for m in ms]
        models = {m["_camera_model"] for m in ms if m["_camera_model"]}
        rows.append(
            {
                "deploymentID": dep,
                "latitude": lat if lat is not None else opts.get("latitude"),
                "longitude": lon if lon is not None else opts.get("longitude"),
                "deploymentStart": _iso(min(whens).replace(tzinfo=zone)),
                "deploymentEnd": _iso(max(whens).replace(tzinfo=zone)),
                "cameraID": None if dep == "unknown" else dep,
                "cameraModel": models.pop() if len(models) == 1 else None,
                "timestampIssues": dep in issues,
            }
        )
    return rows


def _package(
    name: str, deployments: list[dict[str, Any]], obs: list[dict[str, Any]], media: list[dict[str, Any]]
) -> dict[str, Any]:
    resources = [
        {
            "name": n,
            "path": f"{n}.csv",
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": _SCHEMA.format(v=CAMTRAP_VERSION, name=n),
        }
        for n in ("deployments", "media", "observations")
    ]
    taxa = sorted({o["scientificName"] for o in obs if o.get("scientificName")})
    coords = [
        (d["longitude"], d["latitude"]) for d in deployments if d["latitude"] is not None and d["longitude"] is not None
    ]
    package: dict[str, Any] = {
        "resources": resources,
        "profile": f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{CAMTRAP_VERSION}/camtrap-dp-profile.json",
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
        "temporal": {
            "start": min(d["deploymentStart"] for d in deployments)[:10] if deployments else None,
            "end": max(d["deploymentEnd"] for d in deployments)[:10] if deployments else None,
        },
        "taxonomic": [{"scientificName": s, "taxonRank": "species" if " " in s else None} for s in taxa],
    }
    if coords:
        xs, ys = [c[0] for c in coords], [c[1] for c in coords]
        package["spatial"] = {
            "type": "Polygon",
            "coordinates": [
                [[min(xs), min(ys)], [max(xs), min(ys)], [max(xs), max(ys)], [min(xs), max(ys)], [min(xs), min(ys)]]
            ],
        }
    for t in package["taxonomic"]:
        if t["taxonRank"] is None:
            del t["taxonRank"]
    return package


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Camtrap DP CSV: its column order, booleans as true/false, integers without a decimal point."""
    df = pd.DataFrame([{c: _cell(r.get(c)) for c in columns} for r in rows], columns=columns)
    if "count" in df.columns:
        df["count"] = pd.array(df["count"], dtype="Int64")
    df.to_csv(path, index=False)


def _cell(v: Any) -> Any:
    return ("true" if v else "false") if isinstance(v, (bool, np.bool_)) else v


def _iso(dt: datetime) -> str:
    s = dt.isoformat(timespec="seconds")
    return s[:-6] + "Z" if s.endswith("+00:00") else s


def _mediatype(file: str | None) -> str:
    ext = os.path.splitext(file or "")[1].lower()
    return {".png": "image/png", ".webp": "image/webp"}.get(ext, "image/jpeg")
