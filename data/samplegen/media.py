"""Media for deepfake screening: camera-like photos from scikit-image, edited variants, audio, a tiny video.

The scikit-image photos were downscaled and cleaned long ago, so their flat areas hold almost no sensor
noise; "camera" versions add Gaussian sensor noise (sigma 4 grey levels, partly shared between channels)
before JPEG encoding, as a camera would leave it. Every edit then changes the noise or compression of part
of the picture, which is what the sandbox's noise/ELA forensics (and real ones) look for.
"""

from __future__ import annotations

import io
import math
import subprocess
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .common import encode, rng_for, to_image, write

SENSOR_SIGMA = 4.0


def camera(arr: np.ndarray, name: str, sigma: float = SENSOR_SIGMA) -> Image.Image:
    """``arr`` (RGB uint8) with simulated sensor noise: luminance-correlated plus per-channel parts."""
    rng = rng_for("sensor", name)
    a = arr.astype(np.float64)
    a += rng.normal(0.0, sigma, a.shape[:2])[..., None] + rng.normal(0.0, sigma / 2, a.shape)
    return to_image(a)


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    return getattr(data, name)()


def _recompress(img: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(encode(img, "JPEG", quality=quality))).convert("RGB")


def images() -> dict[str, bytes]:
    """File name -> bytes for the photos, their edited variants and the face pair."""
    astronaut = camera(_skimage("astronaut"), "astronaut")
    chelsea = camera(_skimage("chelsea"), "chelsea")
    rocket = camera(_skimage("rocket"), "rocket")
    out = {
        "astronaut.jpg": encode(astronaut, "JPEG", quality=92),
        "chelsea.png": encode(chelsea, "PNG"),
        "rocket.jpg": encode(rocket, "JPEG", quality=92),
    }
    # Copy-move: a patch of the suit cloned over the background with a soft (blurring) clone brush.
    cloned = astronaut.copy()
    cloned.paste(astronaut.crop((300, 330, 470, 500)).filter(ImageFilter.GaussianBlur(1.6)), (20, 330))
    out["astronaut_cloned.jpg"] = encode(cloned, "JPEG", quality=92)
    # Splice: the coffee cup from another, noise-free photo pasted into the rocket picture's sky.
    cup = Image.fromarray(_skimage("coffee")).crop((160, 10, 440, 260)).resize((260, 232), Image.Resampling.LANCZOS)
    spliced = rocket.copy()
    spliced.paste(cup, (40, 30))
    out["rocket_spliced.jpg"] = encode(spliced, "JPEG", quality=92)
    # Retouch: the cat's face smoothed by a median "beauty" filter, saved losslessly.
    retouched = chelsea.copy()
    face = (120, 30, 320, 230)
    retouched.paste(chelsea.crop(face).filter(ImageFilter.MedianFilter(5)), face[:2])
    out["chelsea_retouched.png"] = encode(retouched, "PNG")
    # Quality laundering: recompressed hard (q=25), then saved again at q=90.
    out["rocket_recompressed.jpg"] = encode(_recompress(rocket, 25), "JPEG", quality=90)
    # Too clean to be a camera's: an edge-preserving smoothing removes all sensor noise (looks generated).
    clean = astronaut.filter(ImageFilter.MedianFilter(5)).filter(ImageFilter.SMOOTH_MORE).resize((384, 384))
    out["astronaut_clean_render.png"] = encode(clean, "PNG")
    # A portrait and a reference picture of the same face, taken apart (framing, light) for similarity.
    src = _skimage("astronaut")
    portrait = camera(src[20:340, 90:410], "portrait")
    out["portrait.jpg"] = encode(portrait, "JPEG", quality=92)
    ref = Image.fromarray(src[25:335, 95:405]).resize((240, 240), Image.Resampling.LANCZOS)
    ref_arr = np.asarray(ref, np.float64) * 0.92 + 10  # a little darker and flatter
    out["face_reference.jpg"] = encode(camera(np.clip(ref_arr, 0, 255).astype(np.uint8), "reference", 3.0),
                                       "JPEG", quality=88)
    return out


# -- audio -------------------------------------------------------------------------------------------------
RATE = 16_000


def _wav(x: np.ndarray) -> bytes:
    pcm = np.clip(np.rint(x * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def voice_note(seconds: float = 4.0) -> bytes:
    """Speech-like audio: glottal pulse trains through formant filters in syllables, room noise between."""
    from scipy import signal

    rng = rng_for("voice")
    n = int(RATE * seconds)
    out = np.zeros(n)
    start = 0.25
    for i in range(9):  # nine syllables in three phrases
        dur = float(rng.uniform(0.16, 0.30))
        f0 = 120 + 25 * math.sin(i) + float(rng.uniform(-8, 8))
        i0, i1 = int(start * RATE), int((start + dur) * RATE)
        t = np.arange(i1 - i0) / RATE
        phase = np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / RATE
        pulses = (np.mod(phase, 1.0) < 0.08).astype(float)
        voiced = np.zeros(i1 - i0)
        for f, bw in ((float(rng.uniform(500, 800)), 90), (float(rng.uniform(1100, 1900)), 120), (2600, 180)):
            b, a = signal.iirpeak(f, f / bw, fs=RATE)
            voiced += signal.lfilter(b, a, pulses)
        out[i0:i1] += voiced * np.sin(np.pi * t / dur) ** 0.6
        start += dur + (0.35 if i % 3 == 2 else 0.06)
    out = 0.5 * out / np.abs(out).max()
    b, a = signal.butter(2, [80, 4000], btype="band", fs=RATE)
    room = signal.lfilter(b, a, rng.normal(0.0, 1.0, n))
    return _wav(out + 0.02 * room / room.std())


def synthetic_tone(seconds: float = 3.0) -> bytes:
    """A clean synthesised chime: three pure partials with a smooth envelope, no noise at all."""
    t = np.arange(int(RATE * seconds)) / RATE
    x = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((440.0, 0.5), (660.0, 0.3), (880.0, 0.2)))
    return _wav(0.6 * x * np.minimum(1.0, t / 0.05) * np.exp(-0.4 * t))


# -- video -------------------------------------------------------------------------------------------------
FPS = 24


def pan_frames(n: int = 72, size: tuple[int, int] = (320, 212)) -> list[np.ndarray]:
    """3 s of "camera footage": a slow pan over the camera-like rocket photo, fresh sensor noise per frame."""
    src = np.asarray(camera(_skimage("rocket"), "rocket"))
    w, h = size
    frames = []
    for i in range(n):
        x0 = 40 + 3 * i
        arr = src[100:100 + h, x0:x0 + w].astype(np.float64) + rng_for("pan", i).normal(0, 3.0, (h, w, 1))
        frames.append(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    return frames


def portrait_frames(n: int = 48, side: int = 160) -> list[np.ndarray]:
    """2 s of a face clip: the astronaut portrait slowly zooming in, with fresh sensor noise per frame."""
    src = Image.fromarray(_skimage("astronaut")[20:340, 90:410])
    frames = []
    for i in range(n):
        m = 2 * i  # zoom in by cropping a shrinking square
        crop = src.crop((m, m, 320 - m, 320 - m)).resize((side, side), Image.Resampling.BICUBIC)
        arr = np.asarray(crop, np.float64) + rng_for("portrait-clip", i).normal(0, 3.0, (side, side, 1))
        frames.append(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    return frames


def encode_video(frames: list[np.ndarray], path: Path) -> bool:
    """H.264 MP4 or VP9 WebM (by suffix) with the ffmpeg of imageio-ffmpeg (PyPI); False when not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return False
    h, w = frames[0].shape[:2]
    codec = (["-c:v", "libx264", "-preset", "medium", "-crf", "23", "-x264-params", "threads=1",
              "-movflags", "+faststart"] if path.suffix == ".mp4" else
             ["-c:v", "libvpx-vp9", "-crf", "40", "-b:v", "0", "-row-mt", "0"])
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-", *codec, "-pix_fmt", "yuv420p", "-threads", "1",
           "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return True


def generate(out: Path, parts: tuple[str, ...] = ("images", "audio", "video")) -> list[Path]:
    """Write ``out/media``; videos only when imageio-ffmpeg is installed (else the committed ones are kept)."""
    folder = out / "media"
    written = []
    if "images" in parts:
        written += [write(folder / name, data) for name, data in images().items()]
    if "audio" in parts:
        written.append(write(folder / "voice_note.wav", voice_note()))
        written.append(write(folder / "chime_synthetic.wav", synthetic_tone()))
    if "video" in parts:
        for name, frames in (("rocket_pan.mp4", pan_frames), ("portrait_clip.webm", portrait_frames)):
            if encode_video(frames(), folder / name):
                written.append(folder / name)
    return written
