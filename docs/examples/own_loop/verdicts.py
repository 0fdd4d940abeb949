"""Print every check's verdict on a run: what the examples beside this file show."""

import warnings

import pytest_gan as pg

CHECKS = [
    "assert_d_step_isolated",
    "assert_gradients_zeroed",
    "assert_optimizers_cover",
    "assert_losses_finite",
    "assert_d_output_fits_loss",
    "assert_output_range_matches_data",
    "assert_generator_learns",
    "assert_not_blank",
    "assert_diverse",
    "assert_losses_balanced",
    "assert_checkpoint_roundtrip",
]


def report(run, extra=()):
    print(f"{run.name}: {run.steps} generator steps watched")
    for name in [*CHECKS, *extra]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pg.GANWarning)
            try:
                getattr(pg, name)(run)
                verdict = "pass"
            except pg.GANAssertionError as exc:
                verdict = f"FAIL {exc.pitfall}"
        notes = [str(w.category.__name__) for w in caught if issubclass(w.category, pg.GANWarning)]
        print(f"  {name:34s} {verdict}{'  (' + ', '.join(notes) + ')' if notes else ''}")
