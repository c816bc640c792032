"""Hypothesis profiles: `ci` (default, quick, part of `make test`) and `fuzz` (`make fuzz`).

Choose with HYPOTHESIS_PROFILE=fuzz. No deadline: the machine is shared, and a slow example
is not a failure of the property.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
