"""POST /api/v1/erasures: erase one request id at a data subject's request (services/ingest/erasure.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.auth import engine_of, token_actor
from api.errors import ERROR_RESPONSES
from services.core.tokens import TokenActor
from services.ingest import erasure

router = APIRouter(prefix="/api/v1", tags=["erasure"])


class ErasureIn(BaseModel):
    request_id: str = Field(min_length=1, max_length=200, description="the request id to erase everywhere")
    reason: str = Field(min_length=1, max_length=2000, description="why (audited), e.g. the ticket of the request")


class TrainingSetOut(BaseModel):
    id: int
    name: str
    version: int


class ErasureOut(BaseModel):
    request_hash: str = Field(description="SHA-256 of the request id: all Loopdeck keeps of it")
    predictions: int
    outcomes: int
    shadow_scores: int
    feedback_deleted: int
    feedback_emptied: int = Field(description="feedback items a frozen training set holds: emptied, not deleted")
    block_rows: int
    summary_rows: int
    raw_rows: int
    raw_files: int
    training_sets: list[TrainingSetOut] = Field(description="frozen (immutable) training sets that hold it")
    api_answers: int
    summary: str


@router.post(
    "/erasures",
    response_model=ErasureOut,
    responses=ERROR_RESPONSES,
    summary="Erase one request id (a data subject's request)",
    description="Needs the `erase` scope (a token without a model list). Removes the request id's prediction, "
    "outcome, raw-store rows, shadow scores, feedback and monitoring rows; future training sets skip it. "
    "Audited with the reason and the counts (never the id). Erasing again is harmless (all counts 0).",
)
def erase(request: Request, body: ErasureIn, actor: TokenActor = Depends(token_actor)) -> Any:
    result = erasure.erase_request(engine_of(request), actor, body.request_id, body.reason)
    return ErasureOut(**{**result.__dict__, "summary": result.summary()})
