"""Budgets of the generated tests (#12 items 2 and 3): the API fuzzing (tests/test_fuzz_api.py) and
the parser properties (tests/test_properties_*.py).

``make test`` runs a small, seeded budget, the same examples on every run. A longer campaign
changes the seed and multiplies every budget (docs/security.md, "Fuzzing and properties")::

    CTOWN_FUZZ_SEED=7 CTOWN_FUZZ_SCALE=20 .venv/bin/python -m pytest -q -p no:cacheprovider \\
        tests/test_fuzz_api.py tests/test_properties_*.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import hypothesis
from hypothesis import HealthCheck, Phase

SEED = int(os.environ.get("CTOWN_FUZZ_SEED", "0"))
SCALE = float(os.environ.get("CTOWN_FUZZ_SCALE", "1"))

F = TypeVar("F", bound=Callable[..., Any])


def examples(n: int) -> int:
    """``n`` examples in make test, scaled for a longer campaign."""
    return max(1, round(n * SCALE))


def bounded(n: int, *, shrink: bool = True) -> Callable[[F], F]:
    """Hypothesis settings for one generated test: ``examples(n)`` examples from ``SEED``, no
    example database (a run does not depend on the runs before it), no deadline (the machine is
    shared), shrinking only when asked (a property's counter-example is worth shrinking; a request
    of the fuzzer is not)."""
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])

    def decorate(test: F) -> F:
        configured = hypothesis.settings(max_examples=examples(n), database=None, deadline=None,
                                         phases=phases, derandomize=False,
                                         suppress_health_check=list(HealthCheck))(test)
        seeded: F = hypothesis.seed(SEED)(configured)
        return seeded

    return decorate
