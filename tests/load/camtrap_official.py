"""Validate a Camtrap DP package against the official profile and table schemas vendored in tests/data/camtrap-dp
(tdwg/camtrap-dp, MIT; tags and commits in its README), the same way for the toolkit's packages and the official
example. No schema is inferred from the data.

- ``datapackage.json`` against ``camtrap-dp-profile.json`` (jsonschema, draft 4). The profile's one remote
  reference, the generic Data Package profile, is checked by frictionless' own package metadata validation.
- The three Camtrap DP tables with frictionless, each against its vendored table schema, the
  package's foreign keys (media and observations -> deployments, observations -> media) included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from frictionless import Package, Schema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

OFFICIAL = Path(__file__).resolve().parents[1] / "data" / "camtrap-dp"
TABLES = ("deployments", "media", "observations")
_DATA_PACKAGE = "https://specs.frictionlessdata.io/schemas/data-package.json"
_GEOJSON = "http://json.schemastore.org/geojson.json"


def _registry() -> Registry:
    """The profile's two remote references, offline: GeoJSON from the copy frictionless ships, the generic
    Data Package profile as an open schema (frictionless' own package validation checks that part)."""
    import frictionless

    geojson = json.loads((Path(frictionless.__file__).parent / "assets/profiles/geojson.json").read_text())
    geojson.pop("id", None)  # its "#/definitions/..." references are then read against the URL it is filed under
    return Registry().with_resources(
        [
            (_DATA_PACKAGE, Resource.from_contents({}, default_specification=DRAFT4)),
            (_GEOJSON, Resource.from_contents(geojson, default_specification=DRAFT4)),
        ]
    )


def version_of(descriptor: dict[str, Any]) -> str:
    """The Camtrap DP version a package declares by its profile URL (``.../camtrap-dp/1.0.2/...``)."""
    return str(descriptor["profile"]).split("/camtrap-dp/")[1].split("/")[0]


def errors(folder: Path, version: str | None = None) -> list[str]:
    """Every error of the package in ``folder`` under the official ``version`` (default: the one it declares)."""
    descriptor = json.loads((folder / "datapackage.json").read_text())
    version = version or version_of(descriptor)
    official = OFFICIAL / version
    profile = json.loads((official / "camtrap-dp-profile.json").read_text())
    checker = jsonschema.Draft4Validator(profile, registry=_registry())
    found = [f"datapackage.json {'/'.join(map(str, e.path))}: {e.message}" for e in checker.iter_errors(descriptor)]
    local = dict(descriptor)
    local.pop("profile", None)  # a URL frictionless would try to fetch; checked above
    local["resources"] = []
    for res in descriptor.get("resources", []):
        if res.get("name") in TABLES:  # an extension resource (the example's inline "individuals") is not a table
            schema = Schema.from_descriptor(str(official / f"{res['name']}-table-schema.json")).to_descriptor()
            local["resources"].append({**res, "schema": schema})
    report = Package(local, basepath=str(folder)).validate()
    for task in report.tasks:
        found += [f"{task.name} row {e.get('rowNumber')} {e.get('fieldName')}: {e['note']}" for e in _errs(task)]
    found += [f"package: {e.message}" for e in report.errors]
    return found


def _errs(task: Any) -> list[dict[str, Any]]:
    return [e.to_descriptor() for e in task.errors]
