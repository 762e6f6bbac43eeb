"""What every department builder gets: the generated county, its people and the snapshot date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from ctown.synth.county import County


@dataclass
class World:
    county: County
    snapshot: dt.date
    households: pl.DataFrame  # one row per household: economy, behaviour, loans, PD
    people: pl.DataFrame  # one row per person
    entities: pl.DataFrame  # one row per business entity
    seed: int

    def rng(self, *key: int) -> np.random.Generator:
        """An independent stream per (department, purpose): adding one never shifts another."""
        return np.random.default_rng([self.seed, *key])

    @property
    def village_names(self) -> dict[str, str]:
        return {c: n for c, n, _e, _t in self.county.villages}

    @property
    def township_names(self) -> dict[str, str]:
        return {c: n for c, n, _e in self.county.townships}
