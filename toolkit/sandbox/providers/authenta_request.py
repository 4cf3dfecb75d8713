"""Authenta's create request as the sandbox validates it: the body's models and the task type id, from the
query and/or the body, typed as the OpenAPI document says (docs/contracts.md §3, §10)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from ..core import ApiError
from .authenta_tasks import TASKS

MAX_BYTES = 500 * 1024 * 1024  # PC: no documented cap; keeps the sandbox's memory bounded


def _bad(message: str) -> ApiError:
    return ApiError("authenta", 400, "INVALID_TASK_TYPE", message)


class InputSlot(BaseModel):
    model_config = ConfigDict(extra="ignore")
    contentType: str = Field(min_length=3, max_length=255)
    fileName: str = Field(min_length=1, max_length=255)
    sizeBytes: int = Field(gt=0, le=MAX_BYTES)
    # the document names the slots; which of them a task type takes is checked at create
    slotName: str = Field(
        "original",
        min_length=1,
        max_length=64,
        json_schema_extra={"enum": sorted({s for t in TASKS.values() for s in t.slots})},
    )


class Parameters(BaseModel):
    model_config = ConfigDict(extra="allow")  # e.g. the SDK's {"version": "v1"}
    isFaceswapCheck: bool | None = None
    isLivenessCheck: bool | None = None
    isSimilarityCheck: bool | None = None


class CreateJob(BaseModel):
    model_config = ConfigDict(extra="ignore")
    inputs: list[InputSlot] = Field(min_length=1, max_length=4)
    # an int or its decimal string (SDK 0.2.9), never null or a bool (issue #23: typed as the document says)
    taskTypeId: StrictInt | StrictStr | None = None

    @field_validator("taskTypeId", mode="before")
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("taskTypeId must be a task type id (an integer or its decimal string), not null")
        return v

    parameters: Parameters | None = None


DECIMAL = re.compile(r"0*[0-9]{1,9}")


def task_type_id(query: str | None, body: int | str | None) -> int:
    """The task type from ``?taskTypeId`` and/or the body (int or string); both must agree."""
    ids = []
    for raw in (query, body):
        if raw is None:
            continue
        if isinstance(raw, str) and not DECIMAL.fullmatch(raw):  # no "", " 1", "+1", "1_0", non-ASCII digits
            raise _bad(f"taskTypeId {raw!r} is not a task type id")
        ids.append(int(raw.lstrip("0") or "0") if isinstance(raw, str) else raw)
    if not ids:
        raise _bad("taskTypeId is required (query ?taskTypeId=N or body taskTypeId)")
    if len(set(ids)) > 1:
        raise _bad(f"taskTypeId in the query ({ids[0]}) and body ({ids[1]}) differ")
    if ids[0] not in TASKS:
        raise _bad(f"Unknown taskTypeId {ids[0]}; valid ids are 1-{max(TASKS)}")
    return ids[0]
