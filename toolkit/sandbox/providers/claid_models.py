"""The Claid edit request as the sandbox validates it: pydantic models (enums read case-insensitively) and
their errors as ``{"operations.resizing.fit": ["msg", ...]}`` details (docs/contracts.md §4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from ..engines import imaging

NAME = "claid"
MAX_SIDE = 10_000  # PC: width/height in px
MAX_UPLOAD = 25 * 1024 * 1024  # PC: bytes of an uploaded file (storage upload, upload API)


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def Enum(*values: str) -> Any:  # noqa: N802  (reads like a type)
    """A string enum compared case-insensitively (docs list "jpeg", examples say "JPEG")."""
    return Annotated[Literal[values], BeforeValidator(_lower)]


Level = Annotated[float, Field(ge=-100, le=100)]
#: a percentage within (0%, 1000%], by pattern so the document and the server say the same
Percent = Annotated[str, Field(pattern=r"^(?:0*[1-9]\d{0,2}(?:\.\d+)?|0*1000(?:\.0+)?|0+\.\d*[1-9]\d*)%$")]
Dim = Annotated[int, Field(ge=1, le=MAX_SIDE)] | Percent


COLOR = r"^(#[0-9a-f]{3}|#[0-9a-f]{6}|transparent)$"
#: the document says what the server reads after lowercasing: any letter case
Color = Annotated[
    str,
    BeforeValidator(_lower),
    Field(pattern=COLOR),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[tT][rR][aA][nN][sS][pP][aA][rR][eE][nN][tT])$",
        }
    ),
]


_PAD = r"(?:\d+(?:\.\d+)?(?:[pP][xX])?|0*[0-4]?\d(?:\.\d+)?%)"  # px, or a percentage below 50%
#: what ``imaging.parse_padding`` reads: 1-4 CSS-like values, or a whole number of pixels
PADDING = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": rf"^\s*{_PAD}(?:\s+{_PAD}){{0,3}}\s*$"},
        {"type": "null"},
    ]
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Restorations(Strict):
    upscale: Enum("smart_enhance", "smart_resize", "faces", "digital_art", "photo") | None = None
    decompress: Enum("moderate", "strong", "auto") | None = None
    polish: bool = False


class CropFit(Strict):
    crop: Enum("center", "smart")


class Resizing(Strict):
    width: Dim | None = None
    height: Dim | None = None
    fit: Enum("crop", "bounds", "cover", "canvas", "outpaint") | CropFit = "crop"


class Hdr(Strict):
    intensity: float = Field(100, ge=0, le=100)
    stitching: bool = False


class Adjustments(Strict):
    hdr: Annotated[float, Field(ge=0, le=100)] | Hdr | None = None
    exposure: Level = 0
    saturation: Level = 0
    contrast: Level = 0
    sharpness: Level = 0


class Remove(Strict):
    category: Enum("general", "products", "cars") = "general"
    clipping: bool = False


class Blur(Strict):
    category: Enum("general", "products", "cars") = "general"
    type: Enum("regular", "lens") = "regular"
    level: Enum("low", "medium", "high") = "medium"


class Background(Strict):
    remove: bool | Remove = False
    color: Color | None = None
    blur: Blur | None = None


class Privacy(Strict):
    blur_car_plate: bool = False  # accepted, no-op (no plate detector in the sandbox)


class Operations(Strict):
    restorations: Restorations | None = None
    resizing: Resizing | None = None
    adjustments: Adjustments | None = None
    background: Background | None = None
    # an integer as JSON Schema counts them (484.0 too), never a bool
    padding: Annotated[StrictStr | int | None, WithJsonSchema(PADDING)] = None
    privacy: Privacy | None = None
    generative: dict[str, Any] | None = None  # accepted and echoed, no-op

    @field_validator("padding", mode="before")
    @classmethod
    def _not_a_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("padding is a number of pixels or a CSS-like string, not a boolean")
        return v

    @field_validator("padding")
    @classmethod
    def _padding(cls, v: Any) -> Any:
        if v is not None:
            imaging.parse_padding(v)
        return v


class Format(Strict):
    type: Enum("jpeg", "png", "webp", "avif")
    quality: int = Field(90, ge=1, le=100)
    progressive: bool = False
    compression: Enum("optimal", "fast") | None = None


class Output(Strict):
    format: Enum("jpeg", "png", "webp", "avif") | Format = "jpeg"
    destination: str | None = Field(None, max_length=4096)  # PC: only storage://sandbox/<path>


class UploadRequest(Strict):
    """The upload API's ``data`` part: an edit request without ``input`` (the file is the input)."""

    operations: Operations
    output: Output = Field(default_factory=Output)


class EditRequest(Strict):
    input: str = Field(min_length=1, max_length=4096)
    operations: Operations
    output: Output = Field(default_factory=Output)


def _field_names(model: type[BaseModel], seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    for name, f in model.model_fields.items():
        seen.add(name)
        for t in getattr(f.annotation, "__args__", ()) or (f.annotation,):
            if isinstance(t, type) and issubclass(t, BaseModel):
                _field_names(t, seen)
    return seen


FIELDS = _field_names(EditRequest)


def validation_details(e: ValidationError) -> dict[str, list[str]]:
    """Pydantic errors -> ``{"operations.resizing.fit": ["msg", ...]}`` (union branch tags dropped)."""
    out: dict[str, list[str]] = {}
    for err in e.errors():
        *path, last = err["loc"] or ("body",)
        keep = [x for x in path if isinstance(x, int) or x in FIELDS]
        if isinstance(last, int) or last in FIELDS or err["type"] == "extra_forbidden":
            keep.append(last)  # an unknown key names itself
        loc = ".".join(str(x) for x in keep) or "body"
        msgs = out.setdefault(loc, [])
        if err["msg"] not in msgs:
            msgs.append(err["msg"])
    return out
