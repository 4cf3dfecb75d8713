"""Mistakes raise where they are made: a call whose every input is refused raises ``PreflightError`` naming each
input and its reason (nothing sent, nothing recorded); a call where only some are refused warns once, naming them,
and the batch's text says so too. Against the real sandbox."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

import toolkit as tk
from tests.helpers import scene_image, stats

MALTA = (14.5, 35.88, 14.53, 35.9)  # (min_lon, min_lat, max_lon, max_lat)


def workspace(sandbox, tmp_path: Path) -> tk.Workspace:
    return tk.Workspace(tmp_path / "ws", sandbox=sandbox, quiet=True)


def nothing_sent(ws: tk.Workspace, sandbox) -> bool:
    """No job recorded in the ledger, no request reached any provider of the sandbox."""
    return ws.jobs().empty and all(
        not p["tenants"] or all(not t["requests"] for t in p["tenants"].values())
        for p in stats(sandbox)["providers"].values()
    )


def test_a_path_that_does_not_exist_raises_naming_it(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    missing = tmp_path / "camera_trap"
    with pytest.raises(tk.PreflightError) as e:
        ws.animaldetect.detect(f"{missing}/")
    ((where, reason),) = e.value.reasons
    assert where == f"{missing}/" and reason
    assert str(e.value).startswith("animaldetect detect: the input was rejected, nothing was sent:")
    assert f"\n  {missing}/: {reason}" in str(e.value)
    assert e.value.code == "ALL_REJECTED" and isinstance(e.value, tk.ToolkitError)
    assert nothing_sent(ws, sandbox)


def test_folders_without_media_raise_each_time_and_never_share_a_batch(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    for name in ("notes", "more_notes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "readme.txt").write_text("not an image")
    errors = []
    for name in ("notes", "more_notes"):
        with pytest.raises(tk.PreflightError) as e:
            ws.animaldetect.detect(tmp_path / name)
        errors.append(e.value)
    assert [err.reasons[0][0] for err in errors] == [str(tmp_path / "notes"), str(tmp_path / "more_notes")]
    assert all("readme.txt" in err.reasons[0][1] for err in errors)  # what was skipped is said
    assert nothing_sent(ws, sandbox) and ws.ledger.batches() == []  # no batch recorded, so no id to share


def test_every_rejected_input_is_listed_with_its_reason(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("text, not an image")
    inputs = [tmp_path / "gone.jpg", tmp_path / "empty.jpg", tmp_path / "notes.jpg"]
    with pytest.raises(tk.PreflightError) as e:
        ws.animaldetect.detect(inputs)
    assert [Path(i).name for i, _ in e.value.reasons] == ["gone.jpg", "empty.jpg", "notes.jpg"]
    assert "all 3 inputs were rejected" in str(e.value)
    for err in e.value.rejected:
        assert f"\n  {err.input}: {err.message}" in str(e.value)
    assert nothing_sent(ws, sandbox)


def test_no_input_at_all_raises(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    with pytest.raises(tk.PreflightError, match="the call was given no inputs"):
        ws.animaldetect.detect([])
    assert nothing_sent(ws, sandbox)


def test_a_missing_date_raises_instead_of_an_empty_batch(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    with pytest.raises(tk.PreflightError) as e:
        ws.sateais.ship(MALTA)
    assert e.value.reasons == [("date", "a date (YYYY-MM-DD) is required with an aoi")]
    with pytest.raises(tk.PreflightError, match="give an aoi with a date, or a scene_id"):
        ws.sateais.ship(date="2026-06-15")
    assert nothing_sent(ws, sandbox)


def test_screen_and_edit_raise_when_every_input_is_refused(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    (tmp_path / "notes.jpg").write_text("text")
    with pytest.raises(tk.PreflightError) as e:
        ws.authenta.screen([tmp_path / "notes.jpg", tmp_path / "gone.png"])
    assert [Path(i).name for i, _ in e.value.reasons] == ["notes.jpg", "gone.png"]
    with pytest.raises(tk.PreflightError, match="claid edit: the input was rejected"):
        ws.claid.edit(tmp_path / "gone.png", {"resizing": {"width": 10}})
    assert nothing_sent(ws, sandbox)


def test_some_inputs_rejected_warn_once_naming_each_and_the_rest_go_on(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    folder = tmp_path / "traps"
    folder.mkdir()
    for i in range(2):
        (folder / f"img{i}.jpg").write_bytes(scene_image(i, size=(96, 72)))
    (folder / "broken.jpg").write_text("not an image")
    (folder / "notes.txt").write_text("field notes")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        b = ws.animaldetect.detect(folder)
    mine = [w for w in seen if issubclass(w.category, tk.RejectedInputs)]
    assert len(mine) == 1 and mine[0].filename == __file__  # shown at the call, not inside the toolkit
    text = str(mine[0].message)
    assert text.startswith("animaldetect detect: 1 of 3 inputs rejected before sending (the other 2 were submitted")
    assert {Path(e.input).name for e in b.rejected} == {"broken.jpg"}  # notes.txt: skipped (not media), counted
    assert [Path(s).name for s in b.skipped] == ["notes.txt"] and "notes.txt" not in text
    for e in b.rejected:
        assert f"\n  {e.input}: {e.message}" in text
        assert f"rejected: {e.input}: {e.message}" in repr(b)
    b.wait(timeout=60, progress=False)
    assert b.status_counts()["succeeded"] == 2


def test_an_aoi_list_with_one_bad_bbox_warns_and_names_the_order(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    with pytest.warns(tk.RejectedInputs) as seen:
        b = ws.sateais.ship({"malta": MALTA, "tokyo": (35.4, 139.7, 35.45, 139.75)}, "2026-06-15")
    (err,) = b.rejected
    assert err.input == "tokyo" and "did you mean (139.7, 35.4, 139.75, 35.45)?" in err.message
    (warned,) = [w for w in seen if w.category is tk.RejectedInputs]
    assert "(min_lon, min_lat, max_lon, max_lat)" in str(warned.message)
    assert [j.input for j in b.jobs] == ["malta@2026-06-15"]


@pytest.mark.parametrize(
    "box, why, meant",
    [
        ((14.5, 35.9, 14.53, 35.88), "has min_lat 35.9 > max_lat 35.88", "(14.5, 35.88, 14.53, 35.9)"),
        ((14.53, 35.88, 14.5, 35.9), "359.97° of longitude", "(14.5, 35.88, 14.53, 35.9)"),
        ((-33.9, 151.2, -33.8, 151.3), "looks like lat/lon swapped", "(151.2, -33.9, 151.3, -33.8)"),
        ((390000, 3917000, 395000, 3922000), "projected coordinates?", None),
    ],
)
def test_a_bbox_that_only_makes_sense_in_another_order_is_refused_with_it(box, why, meant):
    from toolkit.client.aoi import parse_aois

    (err,) = parse_aois("sateais", box)
    assert isinstance(err, tk.PreflightError) and why in err.message
    assert "a bbox is (min_lon, min_lat, max_lon, max_lat) in degrees" in err.message
    assert (f"did you mean {meant}?" in err.message) if meant else "did you mean" not in err.message


@pytest.mark.parametrize(
    "box, parts",
    [
        (MALTA, 1),
        ((-0.2, 51.4, 0.1, 51.6), 1),  # London, across the prime meridian
        ((35.88, 14.5, 35.9, 14.53), 1),  # valid both ways round: taken as given (lon, lat)
        ((179.5, -17.0, -179.5, -16.5), 2),  # west > east: across the antimeridian (RFC 7946 §5.2), cut in two
    ],
)
def test_legitimate_bboxes_are_accepted(box, parts):
    from toolkit.client.aoi import parse_aois

    aois = parse_aois("sateais", box)
    assert len(aois) == parts and not any(isinstance(a, tk.PreflightError) for a in aois)


def test_the_warning_counts_inputs_as_given_when_jobs_group_them(sandbox, tmp_path):
    """Face rows go in jobs of up to 100: the warning counts rows (what the user gave) and says how many jobs."""
    roster = Path(__file__).resolve().parents[2] / "data" / "faces" / "roster.csv"
    ws = workspace(sandbox, tmp_path)
    with pytest.warns(tk.RejectedInputs) as caught:
        b = ws.faces.enroll(roster)
    (w,) = [c for c in caught if issubclass(c.category, tk.RejectedInputs)]
    n_bad = len(b.rejected)
    rows = sum(len(j.meta["rows"]) for j in b.jobs)
    assert n_bad and str(w.message).startswith(
        f"faces enroll: {n_bad} of {n_bad + rows} inputs rejected before sending "
        f"(the other {rows} were submitted in {len(b.jobs)} jobs;"
    )
    assert len(b.jobs) < rows and b.wait(timeout=120).done


@pytest.mark.parametrize(
    "kind, box, why, meant",
    [  # valid both ways round, but only one reading fits the job (the Malta box given as lat/lon)
        ("ship", (35.88, 14.5, 35.9, 14.53), "km inland, where there are no ships", "(14.5, 35.88, 14.53, 35.9)"),
        ("oilslick", (35.88, 14.5, 35.9, 14.53), "km inland", "(14.5, 35.88, 14.53, 35.9)"),
        ("newbuilding", (48.85, 2.35, 48.86, 2.36), "km out at sea", "(2.35, 48.85, 2.36, 48.86)"),  # Paris
    ],
)
def test_a_bbox_that_only_fits_the_job_the_other_way_round_is_refused_with_it(kind, box, why, meant):
    from toolkit.client.aoi import parse_aois

    (err,) = parse_aois("sateais", box, kind=kind)
    assert isinstance(err, tk.PreflightError) and why in err.message and f"did you mean {meant}?" in err.message
    (ok,) = parse_aois("sateais", ast.literal_eval(meant), kind=kind)  # the suggestion itself is accepted
    assert not isinstance(ok, tk.PreflightError)


@pytest.mark.parametrize(
    "kind, box",
    [
        ("ship", (14.5, 35.88, 14.53, 35.9)),  # Malta harbour: 0.9° from the nearest 1:110m coast, at sea
        ("newbuilding", (14.5, 35.88, 14.53, 35.9)),  # Malta town: small islands are missing at 1:110m
        ("ship", (-87.1, 43.5, -87.0, 43.6)),  # Lake Michigan: "inland", but the (lat, lon) reading is no better
        ("newbuilding", (-40.0, 30.0, -39.9, 30.1)),  # mid-Atlantic both ways: nothing to suggest, taken as given
        ("timeseries", (35.88, 14.5, 35.9, 14.53)),  # a time series says nothing about land or sea
    ],
)
def test_boxes_the_land_check_cannot_fault_are_accepted(kind, box):
    from toolkit.client.aoi import parse_aois

    assert not any(isinstance(a, tk.PreflightError) for a in parse_aois("sateais", box, kind=kind))


def test_ships_asked_for_inland_raise_before_anything_is_sent(sandbox, tmp_path):
    ws = workspace(sandbox, tmp_path)
    with pytest.raises(tk.PreflightError, match=r"did you mean \(14.5, 35.88, 14.53, 35.9\)\?"):
        ws.sateais.ship((35.88, 14.5, 35.9, 14.53), date="2026-06-15")
    assert nothing_sent(ws, sandbox)
