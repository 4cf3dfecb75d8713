"""Authenta engine: authenticity signals computed from the uploaded bytes (deterministic, sandbox-grade).

Images (JPEG/PNG), decoded with Pillow and downscaled to <= 512 px:
- Noise residual: ``gray - median3x3(gray)``; per block (8x8 grid) a robust sigma (std of the 5-95 % values).
  Blocks whose sigma differs from the image median by more than 3x are *noise outliers* (a pasted or
  retouched region carries other noise than the camera's).
- Error-level analysis (ELA): re-save as JPEG quality 90, mean |original - resaved| per block; blocks off the
  median by more than 3x are *ELA outliers* (regions compressed differently from the rest).
- ``forgery`` = logistic of the larger outlier fraction (centre 4 %); ``smooth`` = logistic of how far the
  median noise sigma is below 1 grey level (generated images are suspiciously clean).
  AI-image fake probability = 1 - (1 - forgery)(1 - smooth); forgery task uses ``forgery`` alone.
- Liveness: sharpness = variance of the Laplacian; live when log10(sharpness) > log10(40) (a photographed
  screen or print is blurred and loses sensor texture).
- Face embedding: 32x32 grey thumbnail, standardised, projected by a fixed seeded 512x1024 Gaussian matrix,
  L2-normalised, so similar pictures give near vectors. Similarity score = 100 * max(0, cosine).
Audio: WAV is decoded (8/16/32-bit PCM); fake when the spectral flatness of the signal is < 0.01 (a pure,
  noise-free synthetic signal); the splitter cuts 20 ms frames whose RMS exceeds a threshold into segments.
  MP3/M4A are not decoded: byte entropy is used as for video.
Video: not decoded. Shannon entropy (bits/byte, Miller-Madow corrected) of the file in 16 chunks: fake
  probability is the logistic of how far the mean entropy is below 6.0 plus the spread between chunks
  (well-compressed camera footage is near-random bytes; a stand-in, not a model).
Documents: PDF structure is read as text: page objects, incremental updates (extra ``%%EOF``), JavaScript;
  tampered when the file was updated after creation. Image documents use the image forgery score.
"""

from __future__ import annotations

import io
import math
import wave
from functools import lru_cache
from typing import Any

import numpy as np

MODEL = "sandbox-reference"
BASE = {"sandbox": True, "model": MODEL}


class UndecodableMedia(ValueError):
    pass


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _pct(p: float) -> float:
    return round(100.0 * p, 2)


def _verdict(p: float) -> dict[str, Any]:
    """The newer-guide fields for a fake probability ``p``."""
    fake, real = _pct(p), round(100.0 - _pct(p), 2)
    return {
        "isFake": p >= 0.5,
        "confidencePercent": max(fake, real),
        "fakeConfidencePercent": fake,
        "realConfidencePercent": real,
    }


# -- images -----------------------------------------------------------------------------------------
def _rgb(data: bytes, max_side: int = 512) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:
        raise UndecodableMedia(f"the image could not be decoded ({type(e).__name__})") from None
    img = ImageOps.exif_transpose(img).convert("RGB")
    img.thumbnail((max_side, max_side))
    return np.asarray(img, dtype=np.float32)


def _blocks(a: np.ndarray, n: int = 8) -> list[np.ndarray]:
    h, w = a.shape[:2]
    bh, bw = max(1, h // n), max(1, w // n)
    return [a[i * bh : (i + 1) * bh, j * bw : (j + 1) * bw] for i in range(h // bh) for j in range(w // bw)]


def _trimmed_std(block: np.ndarray) -> float:
    """Std of the values between the 5th and 95th percentile: robust to edges, not quantised like a MAD."""
    lo, hi = np.percentile(block, [5, 95])
    kept = block[(block >= lo) & (block <= hi)]
    return float(kept.std()) if kept.size else 0.0


def _outliers(values: np.ndarray, ratio: float = 3.0, floor: float = 0.05) -> np.ndarray:
    logs = np.log(np.maximum(values, floor))
    return np.abs(logs - np.median(logs)) > math.log(ratio)


def image_forensics(data: bytes) -> dict[str, float]:
    """Noise/ELA statistics of an image (see the module docstring)."""
    from PIL import Image
    from scipy import ndimage

    rgb = _rgb(data)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    resid = gray - ndimage.median_filter(gray, size=3)
    sig = np.array([_trimmed_std(b) for b in _blocks(resid)])
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buf, "JPEG", quality=90)
    resaved = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32)
    ela = np.abs(rgb - resaved).mean(axis=2)
    ela_b = np.array([b.mean() for b in _blocks(ela)])
    noise_out = float(_outliers(sig).mean())
    ela_out = float(_outliers(ela_b, floor=0.2).mean())
    noise_sigma = float(np.median(sig))
    return {
        "noiseSigma": round(noise_sigma, 4),
        "noiseOutlierFraction": round(noise_out, 4),
        "elaMean": round(float(ela.mean()), 4),
        "elaOutlierFraction": round(ela_out, 4),
        "sharpness": round(float(ndimage.laplace(gray).var()), 2),
        "forgery": _sigmoid((max(noise_out, ela_out) - 0.04) / 0.01),
        "smooth": _sigmoid((1.0 - noise_sigma) / 0.15),
    }


def ai_image(data: bytes) -> dict[str, Any]:
    f = image_forensics(data)
    p = 1.0 - (1.0 - f["forgery"]) * (1.0 - f["smooth"])
    return {**_verdict(p), "analysisDetails": _details(f), **BASE}


def image_forgery(data: bytes) -> dict[str, Any]:
    f = image_forensics(data)
    return {**_verdict(f["forgery"]), "isForged": f["forgery"] >= 0.5, "analysisDetails": _details(f), **BASE}


def liveness(data: bytes) -> dict[str, Any]:
    f = image_forensics(data)
    p = _sigmoid(3.0 * (math.log10(max(f["sharpness"], 1e-3)) - math.log10(40.0)))
    return {"isLive": p >= 0.5, "livenessScore": _pct(p), "sharpness": f["sharpness"], **BASE}


@lru_cache(maxsize=1)
def _projection() -> np.ndarray:
    return np.random.default_rng(20240512).standard_normal((512, 1024)).astype(np.float64) / 32.0


def embedding(data: bytes) -> list[float]:
    """A unit 512-vector from the image content (random projection of a standardised thumbnail)."""
    from PIL import Image

    thumb = Image.fromarray(_rgb(data).astype(np.uint8)).convert("L").resize((32, 32), Image.Resampling.BOX)
    x = np.asarray(thumb, dtype=np.float64).ravel()
    x = (x - x.mean()) / (x.std() or 1.0)
    v = _projection() @ x
    n = float(np.linalg.norm(v))
    v = v / n if n > 0 else np.full(512, 1 / math.sqrt(512))
    return [round(float(t), 6) for t in v]


def face_embedding(data: bytes) -> dict[str, Any]:
    return {"embedding": embedding(data), "dimensions": 512, **BASE}


def similarity(a: list[float], b: list[float]) -> float:
    return _pct(max(0.0, float(np.dot(a, b))))


def _details(f: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in f.items() if k not in ("forgery", "smooth")}


# -- bytes, audio, video, documents -------------------------------------------------------------------
def entropy_stats(data: bytes, chunks: int = 16) -> tuple[float, float]:
    """Mean and spread of Shannon entropy (bits/byte) over ``chunks`` equal parts of the payload."""
    arr = np.frombuffer(data, dtype=np.uint8)
    ents = []
    for part in np.array_split(arr, min(chunks, max(1, arr.size))):
        if part.size == 0:
            continue
        p = np.bincount(part, minlength=256) / part.size
        p = p[p > 0]
        # Miller-Madow correction: small chunks would otherwise look less random than they are.
        ents.append(float(-(p * np.log2(p)).sum()) + (p.size - 1) / (2 * part.size * math.log(2)))
    return float(np.mean(ents)) if ents else 0.0, float(np.std(ents)) if ents else 0.0


def byte_verdict(data: bytes) -> tuple[float, dict[str, float]]:
    mean, spread = entropy_stats(data)
    p = _sigmoid(1.5 * (6.0 - mean) + 2.0 * spread)
    return p, {"byteEntropy": round(mean, 4), "byteEntropySpread": round(spread, 4), "bytes": len(data)}


def _wav(data: bytes) -> tuple[np.ndarray, int]:
    try:
        with wave.open(io.BytesIO(data)) as w:
            width, rate, channels = w.getsampwidth(), w.getframerate(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except Exception as e:
        raise UndecodableMedia(f"the WAV file could not be decoded ({type(e).__name__})") from None
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}.get(width)
    if dtype is None:
        raise UndecodableMedia(f"unsupported WAV sample width {width * 8} bits")
    x = np.frombuffer(raw, dtype=dtype).astype(np.float64)
    if width == 1:
        x -= 128.0
    x /= float(2 ** (8 * width - 1))
    return x.reshape(-1, channels).mean(axis=1) if channels > 1 else x, rate


def ai_audio(data: bytes, mime: str) -> dict[str, Any]:
    if mime != "audio/wav":
        p, stats = byte_verdict(data)
        return {**_verdict(p), "analysisDetails": {"method": "byte-entropy", **stats}, **BASE}
    x, rate = _wav(data)
    power = np.abs(np.fft.rfft(x)) ** 2 + 1e-20 if x.size else np.ones(1)
    flatness = float(np.exp(np.mean(np.log(power))) / np.mean(power))
    p = _sigmoid((math.log10(0.01) - math.log10(max(flatness, 1e-12))) * 4.0)
    return {
        **_verdict(p),
        "analysisDetails": {
            "method": "spectral-flatness",
            "spectralFlatness": round(flatness, 6),
            "durationSeconds": round(x.size / rate, 3),
        },
        **BASE,
    }


def audio_split(data: bytes, mime: str, frame_s: float = 0.02) -> dict[str, Any]:
    if mime != "audio/wav":
        return {"segments": [], "durationSeconds": None, "method": "not-decoded (compressed audio)", **BASE}
    x, rate = _wav(data)
    n = max(1, int(rate * frame_s))
    frames = x[: x.size - x.size % n].reshape(-1, n) if x.size >= n else x.reshape(1, -1)
    rms = np.sqrt((frames**2).mean(axis=1)) if frames.size else np.zeros(1)
    active = rms > max(0.1 * float(rms.max()), 2.0 * float(np.percentile(rms, 10)), 1e-4)
    segments, start = [], None
    for i, on in enumerate([*active.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            segments.append(
                {
                    "index": len(segments),
                    "label": "voice",
                    "startSeconds": round(start * frame_s, 3),
                    "endSeconds": round(i * frame_s, 3),
                }
            )
            start = None
    return {"segments": segments, "durationSeconds": round(x.size / rate, 3), "method": "rms-energy", **BASE}


def video(data: bytes, slug: str) -> dict[str, Any]:
    p, stats = byte_verdict(data)
    out = {**_verdict(p), "analysisDetails": {"method": "byte-entropy", **stats}, **BASE}
    if slug != "ai-video-detection":
        out["isDeepFake"] = out["isFake"]
    return out


def document(data: bytes, mime: str) -> dict[str, Any]:
    if mime != "application/pdf":
        f = image_forensics(data)
        return {
            "isTampered": f["forgery"] >= 0.5,
            "tamperConfidencePercent": _pct(f["forgery"]),
            "pageCount": 1,
            "analysisDetails": _details(f),
            **BASE,
        }
    updates = max(0, data.count(b"%%EOF") - 1)
    pages = (
        data.count(b"/Type /Page")
        + data.count(b"/Type/Page")
        - data.count(b"/Type /Pages")
        - data.count(b"/Type/Pages")
    )
    has_js = b"/JavaScript" in data or b"/JS" in data
    p = _sigmoid(3.0 * updates + 2.0 * has_js - 1.5)
    return {
        "isTampered": p >= 0.5,
        "tamperConfidencePercent": _pct(p),
        "pageCount": max(pages, 0),
        "analysisDetails": {"incrementalUpdates": updates, "hasJavaScript": has_js, "bytes": len(data)},
        **BASE,
    }


def face_intelligence(original: bytes, mime: str, reference: bytes | None, params: dict[str, Any]) -> dict[str, Any]:
    """Deepfake, liveness and similarity checks; a check switched off by its parameter reports null."""
    image = mime in ("image/jpeg", "image/png")
    out: dict[str, Any] = {
        "isDeepFake": None,
        "deepFakeConfidencePercent": None,
        "isLiveness": None,
        "livenessScore": None,
        "isSimilar": None,
        "similarityScore": None,
    }
    if params.get("isFaceswapCheck", True):
        p = image_forensics(original)["forgery"] if image else byte_verdict(original)[0]
        out.update(isDeepFake=p >= 0.5, deepFakeConfidencePercent=_pct(p))
    if params.get("isLivenessCheck", True):
        if image:
            live = liveness(original)
            out.update(isLiveness=live["isLive"], livenessScore=live["livenessScore"])
        else:
            p = 1.0 - byte_verdict(original)[0]
            out.update(isLiveness=p >= 0.5, livenessScore=_pct(p))
    if params.get("isSimilarityCheck", reference is not None) and reference is not None:
        if image:
            score = similarity(embedding(original), embedding(reference))
            out.update(isSimilar=score >= 70.0, similarityScore=score)
        else:
            out["similarityNote"] = "video frames are not decoded by the sandbox; similarity not computed"
    return {**out, **BASE}
