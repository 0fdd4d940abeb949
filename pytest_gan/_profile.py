"""The ``pytest-gan`` hypothesis settings profile: registered on demand, never loaded.

Kept apart from :mod:`pytest_gan.strategies` so that the plugin can register the profile
for ``--hypothesis-profile=pytest-gan`` without importing torch.
"""

from __future__ import annotations

from typing import Any

#: The profile's name, for ``settings.load_profile`` and ``--hypothesis-profile``.
PROFILE = "pytest-gan"

#: Examples per property under the profile. Each example of a GAN property is a short
#: training run: the 20 examples of docs/fuzzing.md's worked example (a 16x16 DCGAN, 20
#: steps, up to 5 critic steps) took 37 s on 2 CPU cores, within a CI job's patience;
#: hypothesis's default of 100 would take about three minutes per property.
MAX_EXAMPLES = 20


def settings_kwargs() -> dict[str, Any]:
    """The profile's settings: no deadline (a training run's time varies with the config
    drawn, which hypothesis would report as flaky), few examples, and no ``too_slow``
    health check (drawing a config is fast, but the data generation of a user's own
    composite strategies may not be)."""
    from hypothesis import HealthCheck

    return {
        "deadline": None,
        "max_examples": MAX_EXAMPLES,
        "suppress_health_check": [HealthCheck.too_slow],
    }


def register() -> None:
    """Register the profile with hypothesis (idempotent); loading it stays the user's call."""
    from hypothesis import settings

    settings.register_profile(PROFILE, **settings_kwargs())
