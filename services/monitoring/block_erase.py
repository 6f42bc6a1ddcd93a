"""Erasure in the monitoring day blocks: the erased predictions' rows leave their days' blocks in place,
inside the caller's (audited) transaction. No rebuild from the prediction table: a day a retention purge
emptied of rows still holds its other rows' aggregates (services/monitoring/retention.py)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as pa_ipc
from sqlmodel import Session, select

from services.core.schema_monitoring import MonitoringBlock
from services.core.timeutil import utcnow
from services.monitoring.blocks import BLOCK_FORMAT, _decode


def _encode(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    with pa_ipc.new_file(buf, table.schema, options=pa_ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return buf.getvalue()


def erase_rows(session: Session, model_version_id: int, days: Iterable[date], prediction_ids: list[int]) -> int:
    """Removes the predictions `prediction_ids` from the version's blocks of `days` (a block left empty
    is deleted); bumps each changed block's generation so every cache drops it. Returns rows removed."""
    wanted = pa.array(sorted(set(prediction_ids)), pa.int64())
    removed = 0
    for day in sorted(set(days)):
        query = select(MonitoringBlock).where(MonitoringBlock.model_version_id == model_version_id,
                                              MonitoringBlock.day == day)  # fmt: skip
        block = session.exec(query.with_for_update()).first()
        if block is None:
            continue
        table = _decode(block.data)
        hit = pc.is_in(table.column("id").cast(pa.int64()), value_set=wanted)
        n_hit = int(pc.sum(hit).as_py() or 0)
        if not n_hit:
            continue
        removed += n_hit
        keep = table.filter(pc.invert(hit))
        if keep.num_rows == 0:
            session.delete(block)
            continue
        block.data, block.format_version = _encode(keep), BLOCK_FORMAT
        block.n_rows, block.n_labelled = keep.num_rows, keep.num_rows - int(keep.column("label").null_count)
        block.generation += 1
        block.built_at = utcnow()
        session.add(block)
    return removed
