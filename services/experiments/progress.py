"""The one definition of "% of planned sample", used by every screen that shows it (the Overview's
experiments tile, the Read card and its progress bar, the results table, the stopping advice):

    units exposed so far (distinct units, in any arm) / planned total sample (planned units per arm x arms)

The planned sample size of an experiment is recorded per arm (the Register form's "Planned units per
arm", the larger arm of a design); the planned total is that number times the number of arms. A unit
exposed to more than one arm counts once. The fraction is not capped: above 1 the planned sample is
reached and passed. No planned sample size: no fraction (None), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.db import read_session
from services.core.schema_experiments import Experiment, Exposure

DEFINITION = (
    "Units exposed so far (distinct units, any arm) / planned total sample (planned units per arm x number of arms)."
)


@dataclass(frozen=True)
class SampleProgress:
    units: int  # distinct units exposed so far, in any arm
    planned_per_arm: int | None
    arms: int

    @property
    def planned_total(self) -> int | None:
        return self.planned_per_arm * self.arms if self.planned_per_arm else None

    @property
    def fraction(self) -> float | None:
        """units / planned_total (not capped); None without a planned sample size."""
        total = self.planned_total
        return self.units / total if total else None

    @property
    def bar(self) -> float:
        """The fraction clipped to [0, 1], for a progress bar (0 without a plan)."""
        f = self.fraction
        return 0.0 if f is None else min(1.0, max(0.0, f))

    @property
    def reached(self) -> bool:
        f = self.fraction
        return f is not None and f >= 1.0

    def text(self) -> str:
        """e.g. "82% of planned sample (12,300 of 15,000 units)"; without a plan, the units only."""
        if self.fraction is None:
            return f"{self.units:,} units exposed (no planned sample size)"
        return f"{self.fraction:.0%} of planned sample ({self.units:,} of {self.planned_total:,} units)"


def arms_of(exp: Experiment) -> int:
    return len(exp.variants or []) or 2


def sample_progress(exp: Experiment, units_exposed: int) -> SampleProgress:
    """The progress of one experiment given its distinct exposed units (pure)."""
    planned = int(exp.planned_sample_size) if exp.planned_sample_size else None
    return SampleProgress(int(units_exposed), planned, arms_of(exp))


def units_exposed(engine: Engine, experiment_ids: Iterable[int]) -> dict[int, int]:
    """Distinct exposed units per experiment (experiments without exposures are absent)."""
    ids = list(experiment_ids)
    if not ids:
        return {}
    e = Exposure.__table__.c
    query = (
        sa.select(e.experiment_id, sa.func.count(sa.distinct(e.unit_id)))
        .where(e.experiment_id.in_(ids))
        .group_by(e.experiment_id)
    )
    with read_session(engine) as session:
        return {int(i): int(n) for i, n in session.exec(query).all()}


def progress_of(engine: Engine, experiments: Iterable[Experiment]) -> dict[int, SampleProgress]:
    """The sample progress of several experiments, keyed by experiment id."""
    rows = list(experiments)
    counts = units_exposed(engine, [r.id for r in rows])
    return {r.id: sample_progress(r, counts.get(r.id, 0)) for r in rows}
