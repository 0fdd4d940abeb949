"""``pytest --gan-smoke``: one test item per check per spec, from a ``gan_spec`` fixture.

A team declares its GANs once, in a conftest, as a fixture named ``gan_spec`` (usually
parametrised, one param per GAN). With ``--gan-smoke``, every conftest that defines that
fixture gets a collector named ``gan-smoke`` beside it whose items are the checks:
``gan-smoke::not-blank[<spec id>]``. All the items of one spec share one training run per
process (the run is keyed by the conftest and the spec's parameter id, so a function-scoped
fixture that builds a new spec per test does not retrain). Checks that do not apply to a
spec (conditioning for an unconditional GAN, the Lipschitz bound for an unconstrained
critic) are skipped with the reason.

Nothing here imports torch at import time.

One module per job: ``items`` (collection, ``gan_expect``, the test each item runs),
``verdicts`` (the record each report carries, JUnit properties), ``table`` (the verdict
table, the GitHub summary), ``reporter`` (progress lines, the table and the JSON report
where the reports arrive), ``scheduling`` (pytest-xdist), ``artifacts`` (pictures,
failure records, pytest-html extras).
"""

from __future__ import annotations

from pytest_gan.smoke.artifacts import (
    CURVES_PNG,
    SAMPLES_PNG,
    html_extras,
    record_failure,
    smoke_artifact_dir,
    write_run_artifacts,
)
from pytest_gan.smoke.items import (
    CHECK_IDS,
    COLLECTOR_NAME,
    EXPECT_MARKER,
    EXPECT_MARKER_HELP,
    SPEC_FIXTURE,
    Expectation,
    ExpectedPitfallMissed,
    SmokeCollector,
    collector_for,
    defines_spec_fixture,
    expectation_of,
    judged,
    smoke_checks,
    spec_fixture_line,
    spec_id,
)
from pytest_gan.smoke.reporter import (
    TRAINED_PROPERTY,
    SmokeReporter,
    TrainingProgress,
    training_line,
    training_record,
)
from pytest_gan.smoke.scheduling import (
    smoke_scope,
    spec_scheduler,
)
from pytest_gan.smoke.table import (
    GITHUB_SUMMARY_ENV,
    TABLE_WIDTH,
    markdown_summary,
    verdict_table,
)
from pytest_gan.smoke.verdicts import (
    JUNIT_FIGURES,
    VERDICT_PROPERTY,
    junit_properties,
    verdict_of,
)

__all__ = [
    "CHECK_IDS",
    "COLLECTOR_NAME",
    "CURVES_PNG",
    "EXPECT_MARKER",
    "EXPECT_MARKER_HELP",
    "GITHUB_SUMMARY_ENV",
    "JUNIT_FIGURES",
    "SAMPLES_PNG",
    "SPEC_FIXTURE",
    "TABLE_WIDTH",
    "TRAINED_PROPERTY",
    "VERDICT_PROPERTY",
    "Expectation",
    "ExpectedPitfallMissed",
    "SmokeCollector",
    "SmokeReporter",
    "TrainingProgress",
    "collector_for",
    "defines_spec_fixture",
    "expectation_of",
    "html_extras",
    "judged",
    "junit_properties",
    "markdown_summary",
    "record_failure",
    "smoke_artifact_dir",
    "smoke_checks",
    "smoke_scope",
    "spec_fixture_line",
    "spec_id",
    "spec_scheduler",
    "training_line",
    "training_record",
    "verdict_of",
    "verdict_table",
    "write_run_artifacts",
]
