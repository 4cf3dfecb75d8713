"""A staff roster for face enrollment: 130 rows (two batch jobs of <= 100), five of them deliberately bad.

Faces come from ``toolkit.sandbox.engines.faces.synthetic_faces`` (crops of scikit-image's public-domain
astronaut photo that the sandbox's LBP cascade detects), re-encoded as 128x128 JPEG (q=80) and checked
again after re-encoding. They are drawn in chunks of 5 with their own seeds, so one chunk can be
regenerated (and verified) alone. The duplicated id's second picture is someone else: a crop of scikit-image's
CC0 cameraman photo (``skimage.data.camera()``), so the two rows that share an id show two different people.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from PIL import Image

from .common import encode, rng_for, write

GOOD = 125
CHUNK = 5
SIDE = 128
FIRST = ["Amira", "Bence", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiroshi", "Ines", "Jonas", "Kavya",
         "Lars", "Mei", "Nikolai", "Olivia", "Pedro", "Quang", "Rosa", "Samir", "Tamsin", "Ugo", "Vera",
         "Wen", "Ximena", "Yusuf", "Zofia"]
LAST = ["Abela", "Borg", "Camilleri", "Dimech", "Ellul", "Farrugia", "Grech", "Hili", "Istvan", "Jensen",
        "Kowalski", "Lindqvist", "Mifsud", "Novak", "Okafor", "Petrov", "Quintana", "Rossi", "Sultana",
        "Tanaka", "Urquhart", "Vella", "Weber", "Xuereb", "Yilmaz", "Zammit"]
#: row position (0-based, in the final CSV; spreadsheet row = position + 2) -> the bad row put there; ids
#: continue after the good ones
BAD = {
    17: "duplicate_id",  # repeats the external_id of position 3 with another person's (valid) face
    48: "missing_file",  # names an image file that does not exist
    77: "too_small",     # an 80x80 px face: below the 100x100 minimum
    101: "not_an_image",  # a text file named .jpg
    118: "no_face",      # a real photo with no face in it
}


def names(n: int) -> list[str]:
    """``n`` distinct "First Last" names, seeded."""
    rng = rng_for("names")
    pairs = [(f, last) for f in FIRST for last in LAST]
    return [f"{f} {last}" for f, last in (pairs[i] for i in rng.permutation(len(pairs))[:n])]


def faces(count: int, seed: int) -> list[bytes]:
    """``count`` 128x128 JPEG faces from ``synthetic_faces(.., seed)`` that the sandbox still enrolls."""
    from toolkit.sandbox.engines.faces import ItemError, enroll_item, synthetic_faces

    want, out = count, []
    while len(out) < count:  # synthetic_faces(n, seed) is prefix-stable: asking for more extends the list
        out = []
        for data in synthetic_faces(want, seed=seed):
            img = Image.open(io.BytesIO(data)).convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
            jpg = encode(img, "JPEG", quality=80)
            try:
                enroll_item("roster-check", jpg)
            except ItemError:
                continue
            out.append(jpg)
            if len(out) == count:
                break
        want += 5
    return out


def face_chunk(k: int) -> list[bytes]:
    """Chunk ``k`` (0-based) of the good faces (rows EMP-{25k+1} ... EMP-{25k+25})."""
    return faces(CHUNK, seed=1000 + k)


#: the cameraman's head in ``skimage.data.camera()`` (512x512): square side and centre (x, y), in px
OTHER_PERSON = (196, 221, 135)


def other_person() -> bytes:
    """A second person for the duplicated id: the cameraman, framed as a portrait, still enrolled by the sandbox."""
    from skimage import data

    from toolkit.sandbox.engines.faces import enroll_item

    side, cx, cy = OTHER_PERSON
    x0, y0 = cx - side // 2, cy - side // 2
    photo = Image.fromarray(data.camera()).convert("RGB")
    img = photo.crop((x0, y0, x0 + side, y0 + side)).resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    jpg = encode(img, "JPEG", quality=80)
    enroll_item("roster-check", jpg)  # raises ItemError if this Pillow/scikit-image no longer finds the face
    return jpg


def bad_files() -> dict[str, bytes]:
    """Image name -> bytes for the bad rows that have a file."""
    from skimage import data

    from toolkit.sandbox.engines.faces import synthetic_faces

    small = Image.open(io.BytesIO(synthetic_faces(1, seed=999)[0])).convert("RGB").resize((80, 80))
    scene = Image.fromarray(data.coffee()).resize((300, 200), Image.Resampling.LANCZOS)
    text = "This is not a picture.\nIt is a text file with a .jpg name, saved by mistake.\n"
    return {"emp_0128.jpg": encode(small, "JPEG", quality=80),
            "emp_0129.jpg": text.encode(),
            "emp_0130.jpg": encode(scene, "JPEG", quality=80)}


def rows() -> list[dict[str, str]]:
    """The roster rows in CSV order (image paths relative to the CSV)."""
    people = names(GOOD + len(BAD))
    good = [{"external_id": f"EMP-{i + 1:04d}", "image": f"images/emp_{i + 1:04d}.jpg", "name": people[i]}
            for i in range(GOOD)]
    bad_rows = {
        "duplicate_id": {"external_id": "EMP-0004", "image": "images/emp_0126.jpg", "name": people[GOOD]},
        "missing_file": {"external_id": "EMP-0127", "image": "images/emp_0127.jpg", "name": people[GOOD + 1]},
        "too_small": {"external_id": "EMP-0128", "image": "images/emp_0128.jpg", "name": people[GOOD + 2]},
        "not_an_image": {"external_id": "EMP-0129", "image": "images/emp_0129.jpg", "name": people[GOOD + 3]},
        "no_face": {"external_id": "EMP-0130", "image": "images/emp_0130.jpg", "name": people[GOOD + 4]},
    }
    out: list[dict[str, str]] = []
    it = iter(good)
    for pos in range(GOOD + len(BAD)):
        out.append(bad_rows[BAD[pos]] if pos in BAD else next(it))
    return out


def roster_csv() -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["external_id", "image", "name"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows())
    return buf.getvalue().encode()


def generate(out: Path, chunks: list[int] | None = None) -> list[Path]:
    """Write ``out/faces``: roster.csv, the good faces (all chunks, or only ``chunks``) and the bad files."""
    folder = out / "faces"
    written = [write(folder / "roster.csv", roster_csv())]
    for k in range(GOOD // CHUNK) if chunks is None else chunks:
        for j, data in enumerate(face_chunk(k)):
            written.append(write(folder / "images" / f"emp_{k * CHUNK + j + 1:04d}.jpg", data))
    written.append(write(folder / "images" / "emp_0126.jpg", other_person()))  # the duplicate id's other person
    for name, data in bad_files().items():
        written.append(write(folder / "images" / name, data))
    return written

