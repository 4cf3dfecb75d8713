"""claid (stub: replaced by the provider implementation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..core import ApiError, Context, ProviderSpec

NAME = "claid"


def error_body(err: ApiError) -> dict[str, Any]:
    return {"error": {"code": err.code, "message": err.message}}


def build_router(ctx: Context) -> APIRouter:
    return APIRouter()


def make_engine(ctx: Context):
    def run(job):  # noqa: ANN001
        return {}

    return run


SPEC = ProviderSpec(name=NAME, prefixes=["/claid/api/v1"], build_router=build_router, error_body=error_body,
                    engine=make_engine)
