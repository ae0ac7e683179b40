"""Hypothesis settings for the fuzz targets, and a count of the inputs they ran.

The normal suite runs a bounded, derandomized sample (``STATEGATE_FUZZ_EXAMPLES``
unset: ``SAMPLE_EXAMPLES`` inputs per target). ``scripts/fuzz.sh`` sets
``STATEGATE_FUZZ_EXAMPLES`` to run that many inputs per target with a random
seed and reports the total (``tests/fuzz/conftest.py`` prints it).
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

SAMPLE_EXAMPLES = 200

_long = os.environ.get("STATEGATE_FUZZ_EXAMPLES")

FUZZ = settings(
    max_examples=int(_long) if _long else SAMPLE_EXAMPLES,
    derandomize=not _long,  # the sample is reproducible; the long run explores
    deadline=None,  # no timed assertions: hangs are caught by the bounds under test
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# inputs run per fuzz target (each call of a target's body counts one)
COUNTS: Counter[str] = Counter()
