"""POST /api/v1/monitoring/query and /api/v1/monitoring/export: a window's raw rows, filtered on several cohort
fields at once, answered by DuckDB from the raw store (services/monitoring/raw_query.py). The day summaries hold
one cohort field at a time; these answer what they cannot."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import engine_of, token_actor
from api.errors import ERROR_RESPONSES
from services.core.tokens import TokenActor
from services.monitoring import raw_query

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}


class WindowIn(BaseModel):
    model: str = Field(min_length=1, max_length=200, description="model name")
    version: int = Field(ge=1, le=2**31 - 1, description="model version")
    first: date = Field(description="first UTC day of the window (YYYY-MM-DD)")
    last: date = Field(description="last UTC day of the window, included")
    filters: dict[str, list[str]] = Field(
        default_factory=dict,
        description="cohort field -> values: a row matches when every field holds one of its values "
        f"(at most {raw_query.MAX_FILTER_FIELDS} fields, {raw_query.MAX_FILTER_VALUES} values each)",
    )


class ExportIn(WindowIn):
    format: Literal["parquet", "csv"] = "parquet"
    max_rows: int = Field(default=raw_query.EXPORT_MAX_ROWS, ge=1, le=raw_query.EXPORT_MAX_ROWS)


class WindowMetricsOut(BaseModel):
    model: str
    version: int
    first: date
    last: date
    filters: dict[str, list[str]]
    rows: int
    labelled: int = Field(description="rows whose outcome is known")
    positives: int
    predicted_positive: int
    tp: int
    fp: int
    tn: int
    fn: int
    mean_score: float | None
    accuracy: float | None = Field(description="None when no row is labelled")
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None = Field(description="exact (Mann-Whitney, ties one half); None without both classes")
    files: int = Field(description="raw-store part files read")


@router.post(
    "/query",
    response_model=WindowMetricsOut,
    responses=ERROR_RESPONSES,
    summary="Metrics of a window's raw rows, filtered on several cohort fields at once",
    description="Needs the `monitoring:read` scope for the model. Reads the raw store (Parquet by model, version "
    "and day) with DuckDB; at most 400 days.",
)
async def query(request: Request, body: WindowIn, actor: TokenActor = Depends(token_actor)) -> Any:
    got = await run_in_threadpool(raw_query.window_metrics, actor, body.model, body.version, body.first,
                                  body.last, body.filters, engine=engine_of(request))  # fmt: skip
    fields = {k: v for k, v in got.__dict__.items() if k not in ("model_name", "filters")}
    return WindowMetricsOut(model=got.model_name, filters={k: list(v) for k, v in got.filters.items()}, **fields)


@router.post(
    "/export",
    responses={
        **ERROR_RESPONSES,
        200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "the rows as a file"},
    },  # fmt: skip
    summary="A window's raw rows as Parquet or CSV",
    description="Needs the `raw:export` scope for the model. Refused with 422 when more rows match than "
    "`max_rows` (at most 500,000), before any row is read. Audited (raw rows leave Loopdeck).",
)
async def export(request: Request, body: ExportIn, actor: TokenActor = Depends(token_actor)) -> Response:
    got = await run_in_threadpool(raw_query.export_window, engine_of(request), actor, body.model, body.version,
                                  body.first, body.last, body.filters, body.format, body.max_rows)  # fmt: skip
    headers = {"Content-Disposition": f'attachment; filename="{got.filename}"', "X-Loopdeck-Rows": str(got.rows)}
    return Response(got.data, media_type=MEDIA_TYPES[got.format], headers=headers)
