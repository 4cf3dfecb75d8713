"""Authenta task types: the media each accepts, its input slots, typical runtime, timeout and engine function
(docs/contracts.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engines import authenticity as engine

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
MP3, WAV, M4A = "audio/mpeg", "audio/wav", "audio/mp4"
MP4, MOV, WEBM = "video/mp4", "video/quicktime", "video/webm"
IMAGES, AUDIO, VIDEOS = frozenset({JPEG, PNG}), frozenset({MP3, WAV, M4A}), frozenset({MP4, MOV, WEBM})
#: Other spellings clients send for the same formats.
ALIASES = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "audio/mp3": MP3,
    "audio/x-wav": WAV,
    "audio/wave": WAV,
    "audio/vnd.wave": WAV,
    "audio/x-m4a": M4A,
    "audio/m4a": M4A,
}


@dataclass(frozen=True)
class TaskType:
    slug: str
    formats: frozenset[str]
    median: float  # typical runtime in seconds (PC), before time_scale
    timeout: float = 600.0  # documented
    slots: tuple[str, ...] = ("original",)  # the first is required


TASKS: dict[int, TaskType] = {
    1: TaskType("ai-image-detection", IMAGES, 20, 300),
    2: TaskType("ai-audio-detection", AUDIO, 30),
    3: TaskType("ai-video-detection", frozenset({MP4, MOV}), 90),
    4: TaskType("faceswap-detection", VIDEOS, 180, 1800),
    5: TaskType("image-forgery-detection", IMAGES, 20, 300),
    6: TaskType("document-intelligence", IMAGES | {PDF}, 20, 300),
    7: TaskType("face-liveness-detection", IMAGES, 20),
    8: TaskType("face-intelligence", IMAGES | VIDEOS, 60, slots=("original", "reference")),
    9: TaskType("face-embedding", IMAGES, 20),
    10: TaskType("audio-splitter", AUDIO, 30),
    11: TaskType("ekyc-deepfake", VIDEOS, 90),
}
SLOT_FORMATS = {"reference": IMAGES}  # slot -> formats, when narrower than the task's


def canonical(content_type: str) -> str:
    """The media type without parameters, lowercased, aliases resolved (``image/jpg`` -> ``image/jpeg``)."""
    ct = content_type.split(";")[0].strip().lower()
    return ALIASES.get(ct, ct)


def compute(slug: str, data: bytes, mime: str, reference: bytes | None, params: dict[str, Any]) -> dict[str, Any]:
    """The engine function of each task type."""
    match slug:
        case "ai-image-detection":
            return engine.ai_image(data)
        case "image-forgery-detection":
            return engine.image_forgery(data)
        case "face-liveness-detection":
            return engine.liveness(data)
        case "face-embedding":
            return engine.face_embedding(data)
        case "document-intelligence":
            return engine.document(data, mime)
        case "ai-audio-detection":
            return engine.ai_audio(data, mime)
        case "audio-splitter":
            return engine.audio_split(data, mime)
        case "face-intelligence":
            return engine.face_intelligence(data, mime, reference, params)
        case _:
            return engine.video(data, slug)
