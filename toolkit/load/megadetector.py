"""MegaDetector batch output (format 1.5, https://lila.science/megadetector-output-format) to and from Animal
Detect results (``tk.load.to_megadetector``, ``tk.load.from_megadetector``).

Read by Timelapse, MegaDetector postprocessing, AddaxAI and Camelot importers: string category ids, ``conf``,
normalized ``[x_min, y_min, width, height]``, ``failure`` (with ``detections: null``) for images not processed.
Species labels (and any label with a taxonomy id, such as ``vehicle``) become ``classifications``; taxonomy goes
to ``classification_category_descriptions`` in SpeciesNet's ``id;class;order;family;genus;species;common name``
form, so it survives the round trip. ``file`` entries are relative to ``info.toolkit.image_root``, which keeps
the folder as submitted, so a round trip gives back the paths the batch was given.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from .animaldetect import detections, image_facts

__all__ = ["to_megadetector", "from_megadetector"]

FORMAT_VERSION = "1.5"
MD_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
_MD_ID = {"animal": "1", "person": "2", "human": "2", "vehicle": "3"}
_TAXON_KEYS = ("class", "order", "family", "genus", "species")


def to_megadetector(source: Any, path: str | Path | None = None, *, root: str | Path | None = None) -> dict[str, Any]:
    """MegaDetector batch-output JSON (format 1.5) of Animal Detect results; written to ``path`` when given.

    ``file`` entries are relative to ``root`` (default: the folder all images share, as submitted: relative when
    the batch was given relative paths), with ``/`` separators, as Timelapse expects; ``info.toolkit.image_root``
    records that folder so ``from_megadetector`` gives back the submitted paths.
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
            taxonomy_id = (a.get("taxonomy") or {}).get("id")
            # a species, "human", or a category label with a taxonomy id (vehicle): a classification keeps it
            if label not in MD_CATEGORIES.values() or taxonomy_id:
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
    recs: list[dict[str, Any]] = []
    for im in md.get("images") or []:
        file = _join(base, im["file"])
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
    df.attrs["images"] = _Shared(
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


class _Shared(pd.DataFrame):
    """``df.attrs["images"]``: shared, never copied (as ``RawResults``), so pandas, which compares attrs when it
    combines frames, compares one object with itself instead of two frames cell by cell (an error)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> "_Shared":
        return self


def _description(label: str, taxonomy: dict[str, Any]) -> str:
    return ";".join([str(taxonomy.get("id") or "")] + [str(taxonomy.get(k) or "") for k in _TAXON_KEYS] + [label])


def _parse_description(text: str) -> dict[str, str]:
    parts = text.split(";")
    if len(parts) != 7:
        return {}
    out = {"id": parts[0], **dict(zip(_TAXON_KEYS, parts[1:6]))}
    return {k: v for k, v in out.items() if v}


def _common_root(files: list[str]) -> Path | None:
    """The folder all ``files`` share, spelled as they were submitted (relative stays relative)."""
    if not files:
        return None
    dirs = [os.path.dirname(os.path.normpath(f)) or "." for f in files]
    try:
        return Path(os.path.commonpath(dirs))
    except ValueError:  # absolute and relative paths mixed, or different drives
        try:
            return Path(os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]))
        except ValueError:
            return None


def _relative(file: str, base: Path | None) -> str:
    if base is None:
        return file.replace("\\", "/")
    for f, b in ((os.path.normpath(file), os.path.normpath(base)), (os.path.abspath(file), os.path.abspath(base))):
        try:
            rel = os.path.relpath(f, b)
        except ValueError:  # different drives
            continue
        if not rel.startswith(".."):
            return Path(rel).as_posix()
    return file.replace("\\", "/")


def _join(base: str | Path | None, file: str) -> str:
    """``base/file`` spelled like the submitted path (``./x.jpg`` stays ``x.jpg``); absolute files stay as they are."""
    if not base or os.path.isabs(file):
        return file
    joined = str(PurePosixPath(Path(base).as_posix()) / file)
    return joined[2:] if joined.startswith("./") else joined
