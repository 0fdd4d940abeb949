"""The range checks: data normalisation and the generator's reach of the data's range."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fixtures import data
from fixtures.zoo import N_IMAGES, case
from pytest_gan import (
    GANAssertionError,
    assert_data_normalized,
    assert_output_range_matches_data,
    train,
)
from pytest_gan.checks.ranges import FAR_FIRST, PROBE_LATENT_SCALE, RANGE_SAMPLES, range_failure
from tests.tiny import tiny_spec


@pytest.mark.parametrize("seed", range(10))
def test_unnormalised_images_are_caught(seed: int) -> None:
    images = data.shapes16(N_IMAGES, seed=seed)
    for raw, hint in (
        (data.to_unit_range(images), "ToTensor"),
        (data.to_uint8_range(images), "8-bit"),
    ):
        with pytest.raises(GANAssertionError, match=hint) as caught:
            assert_data_normalized(raw)
        assert caught.value.pitfall == "data-not-normalized"
    assert_data_normalized(images)
    assert_data_normalized(data.scenes32(256, seed=seed))


#: Every form a spec's data takes: a Tensor, (x, y), a Dataset, a DataLoader.
DATA_FORMS = [
    lambda x: x,
    lambda x: (x, torch.zeros(len(x), dtype=torch.long)),
    lambda x: TensorDataset(x),
    lambda x: DataLoader(TensorDataset(x), batch_size=256),
]


def test_the_zoo_twin_and_its_reference() -> None:
    with pytest.raises(GANAssertionError) as caught:
        assert_data_normalized(case("data-not-normalized").spec())
    assert caught.value.evidence["span_share"] == pytest.approx(0.5, abs=0.01)
    assert_data_normalized(case("shapes-dcgan").spec())


@pytest.mark.parametrize("form", DATA_FORMS)
def test_every_data_form_is_judged(form: Any) -> None:
    images = data.shapes16(512)
    assert_data_normalized(form(images))
    with pytest.raises(GANAssertionError):
        assert_data_normalized(form(data.to_unit_range(images)))


@pytest.mark.parametrize("form", DATA_FORMS)
def test_images_stored_as_8_bit_integers_get_a_verdict(form: Any) -> None:
    """Raw 8-bit images (a uint8 array, torchvision's PILToTensor) are the check's own
    subject: a verdict saying how to convert them, not an input error."""
    raw = data.to_uint8_range(data.shapes16(512)).round().to(torch.uint8)
    with pytest.raises(
        GANAssertionError, match=r"8-bit pixel.*torch\.uint8.*\.float\(\)"
    ) as caught:
        assert_data_normalized(form(raw))
    assert caught.value.pitfall == "data-not-normalized"
    assert caught.value.evidence["max"] > 200  # read as the integers they are
    assert_data_normalized(form(raw), expected_range=(0, 255))
    # Training on them is another matter: a network takes floating-point samples.
    with pytest.raises(ValueError, match="floating-point samples"):
        tiny_spec(data=form(raw))


def test_a_unit_range_expectation_accepts_unit_data() -> None:
    unit = data.to_unit_range(data.shapes16(512))
    assert_data_normalized(unit, expected_range=(0, 1))
    with pytest.raises(GANAssertionError, match=r"should fill \[0, 1\]"):
        assert_data_normalized(data.shapes16(512), expected_range=(0, 1))


def test_slightly_narrow_or_noisy_data_passes() -> None:
    x = data.shapes16(512) * 0.9  # spans 90% of the range
    assert_data_normalized(x)
    assert_data_normalized(x.clamp(-1, 1) + 0.01)  # overshoots by half a percent


@pytest.mark.parametrize(
    ("args", "error", "names"),
    [
        ((torch.zeros(4, 2), (1, -1)), ValueError, "expected_range"),
        ((torch.zeros(4, 2), 1.0), TypeError, "expected_range"),
        (("images/", (-1, 1)), TypeError, "data"),
        ((torch.tensor([[0.0, float("nan")], [0.0, 1.0]]), (-1, 1)), ValueError, "NaN"),
        ((torch.empty(0, 3), (-1, 1)), ValueError, "data"),
    ],
)
def test_bad_input_is_refused_by_name(
    args: tuple[Any, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        assert_data_normalized(*args)


# The Sigmoid twin's gap is structural (a Sigmoid never goes below 0), so a short run
# shows it as surely as a long one. The healthy references, which need their full 200
# steps to reach both ends of the range, are judged in test_checks_healthy.py.
@pytest.mark.parametrize("seed", range(10))
def test_the_sigmoid_twin_is_caught(seed: int) -> None:
    run = train(case("output-range-mismatch").spec(), steps=20, seed=seed)
    with pytest.raises(
        GANAssertionError, match="the final activation looks like Sigmoid"
    ) as caught:
        assert_output_range_matches_data(run)
    assert caught.value.pitfall == "output-range-mismatch"
    assert caught.value.evidence["low_gap"] >= 0.5 - 1e-4
    assert caught.value.evidence["fake_min"] >= 0.0


def test_a_relu_generator_on_signed_data_is_named() -> None:
    def relu_g() -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2), torch.nn.ReLU()
        )

    run = train(tiny_spec(generator=relu_g, data=torch.rand(512, 2) * 2 - 1), steps=3)
    with pytest.raises(GANAssertionError, match="looks like ReLU"):
        assert_output_range_matches_data(run)


def test_the_range_check_validates_its_arguments() -> None:
    with pytest.raises(TypeError, match="run must be a GANRun"):
        assert_output_range_matches_data(torch.zeros(4, 2))  # type: ignore[arg-type]
    run = train(tiny_spec(), steps=1)
    with pytest.raises(ValueError, match="samples"):
        assert_output_range_matches_data(run, samples=1)


def test_a_generator_that_has_not_spread_out_yet_is_not_a_range_mismatch() -> None:
    # One step: the ring's MLP generator still outputs values near 0, far short of the
    # ring's extremes, but nothing bounds it: it can still get there.
    run = train(case("ring-mlp").spec(), steps=1)
    fake = run.samples(1000)
    assert float(fake.max()) < 0.5 * run.data_range[1]
    assert_output_range_matches_data(run)


def test_a_run_or_a_spec_is_judged_by_its_data() -> None:
    spec = case("data-not-normalized").spec()
    with pytest.raises(GANAssertionError):
        assert_data_normalized(train(spec, steps=1))
    with pytest.raises(TypeError, match="data must be a Tensor"):
        assert_data_normalized(object())


class _PositiveUnbounded(torch.nn.Module):
    """An unbounded generator whose outputs all happen to be positive: |z| W + 1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((4, 2), 0.5))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.abs() @ self.w + 1.0


def test_samples_clear_of_a_bound_are_not_taken_for_an_activation() -> None:
    # Every output is above 0 like a ReLU's, but none sits at 0: nothing confines them there
    # (the healthy ring-mlp, seed 4, gave exactly this picture).
    run = train(tiny_spec(generator=_PositiveUnbounded), steps=2)
    assert float(run.samples(100).min()) > 0.5
    assert_output_range_matches_data(run)


# Found by tests/test_fuzz_checks.py: data of a single value has an inferred range of
# width 0, which the check divided by (ZeroDivisionError).
def test_data_of_a_single_value_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="64 copies of one sample"):
        tiny_spec(data=torch.zeros(64, 2))
    # A DataLoader is seen a batch at a time, not whole: the check names the data instead.
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.zeros(64, 2)), batch_size=16
    )
    run = train(tiny_spec(data=loader), steps=1)
    assert run.data_range == (0.0, 0.0)
    with pytest.raises(ValueError, match="data of a single value"):
        assert_output_range_matches_data(run)


def test_the_smoke_suite_checks_flattened_images_under_a_tanh_generator() -> None:
    # An MLP GAN on flattened ToTensor() images (no Normalize) with a Tanh G: its data
    # should fill [-1, 1], as a 4-D image set's should; 2-D points under an unbounded G
    # have no such range.
    from torch import nn

    from pytest_gan.checks.ranges import DATA_NORMALIZED
    from tests.tiny import LATENT

    applies = DATA_NORMALIZED.applies
    flat = torch.rand(1024, 64, generator=torch.Generator().manual_seed(0))
    tanh_g = lambda: nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 64), nn.Tanh())  # noqa: E731
    mlp_d = lambda: nn.Sequential(nn.Linear(64, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))  # noqa: E731
    run = train(tiny_spec(generator=tanh_g, discriminator=mlp_d, data=flat), steps=2)
    assert applies(run) is None
    with pytest.raises(GANAssertionError) as caught:
        assert_data_normalized(run)
    assert caught.value.pitfall == "data-not-normalized"
    points = train(tiny_spec(), steps=2)
    assert applies(points) == "the data are not images, and the generator does not end in a Tanh"


def _sigmoid_spec(data: torch.Tensor, **overrides: Any) -> Any:
    """An MLP GAN on 8x8 grey images whose generator ends in a Sigmoid."""
    from torch import nn

    from tests.tiny import LATENT

    return tiny_spec(
        generator=lambda: nn.Sequential(
            nn.Linear(LATENT, 32),
            nn.ReLU(),
            nn.Linear(32, 64),
            nn.Sigmoid(),
            nn.Unflatten(1, (1, 8, 8)),
        ),
        discriminator=lambda: nn.Sequential(
            nn.Flatten(), nn.Linear(64, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1)
        ),
        data=data,
        **overrides,
    )


def _unit_images() -> torch.Tensor:
    return torch.rand(1024, 1, 8, 8, generator=torch.Generator().manual_seed(0))


# A new user's healthy GAN (seed 000's own pairing: "a sigmoid function for 0-1"): digits
# in [0, 1] under a Sigmoid generator failed data-normalized on 5 seeds of 5, with and
# without data_range=(0, 1) declared, though every other check passed and its samples
# approached the data as the Tanh version's did (2026-12-06).
def test_unit_data_under_a_sigmoid_generator_is_normalised() -> None:
    from pytest_gan.checks.ranges import DATA_NORMALIZED

    unit = _unit_images()
    run = train(_sigmoid_spec(unit), steps=2)
    assert DATA_NORMALIZED.applies(run) is None
    assert_data_normalized(run)
    assert_data_normalized(train(_sigmoid_spec(unit, data_range=(0.0, 1.0)), steps=2))
    # Asked for [-1, 1] by name, the data fails it: a range given is the one judged.
    with pytest.raises(GANAssertionError, match=r"should fill \[-1, 1\]:"):
        assert_data_normalized(run, expected_range=(-1, 1))
    # The data alone say nothing of the generator: judged against [-1, 1].
    with pytest.raises(GANAssertionError):
        assert_data_normalized(unit)
    # Raw pixels are no more normalised for a Sigmoid generator; the message names both.
    raw = train(_sigmoid_spec(unit * 255), steps=2)
    with pytest.raises(GANAssertionError, match=r"or \[0, 1\], its Sigmoid") as caught:
        assert_data_normalized(raw)
    assert caught.value.pitfall == "data-not-normalized"
    assert caught.value.evidence["expected_range"] == (-1.0, 1.0)


def test_the_sigmoid_twin_s_data_is_normalised() -> None:
    # Both ways: [-1, 1] data under a Sigmoid generator is the output-range mistake, not
    # this one; the data are as they should be.
    assert_data_normalized(train(case("output-range-mismatch").spec(), steps=2))


def test_a_declared_data_range_does_not_hide_the_mistake() -> None:
    # ToTensor() data under a Tanh generator, declared as the [0, 1] it is: still the
    # mistake (the zoo's twin, with data_range added).
    from dataclasses import replace

    twin = case("data-not-normalized").spec()
    declared = replace(twin, data_range=(0.0, 1.0))
    with pytest.raises(GANAssertionError, match="ToTensor"):
        assert_data_normalized(train(declared, steps=1))


def _parts_drawn(run: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Records the rows of each draw with z scaled that the range check makes."""
    drawn: list[tuple[int, int]] = []
    original = run.scaled_part

    def spy(n: int, latent_scale: float, rows: slice) -> torch.Tensor:
        drawn.append((rows.start, rows.stop))
        return original(n, latent_scale, rows)

    monkeypatch.setattr(run, "scaled_part", spy)
    return drawn


@pytest.mark.parametrize("name", ["shapes-dcgan", "ring-mlp", "output-range-mismatch"])
def test_the_probe_drawn_in_two_parts_decides_as_the_whole_draw(name: str) -> None:
    # The same 1,000 z, through G at once (as before) or the first 256 then the rest:
    # the same verdict, and for a failure the same evidence.
    run = train(case(name).spec(), steps=20, seed=3)
    whole = range_failure(run, RANGE_SAMPLES, RANGE_SAMPLES)
    parts = range_failure(run, RANGE_SAMPLES, FAR_FIRST)
    assert (whole is None) == (name != "output-range-mismatch")
    assert (parts is None) == (whole is None)
    if whole is not None and parts is not None:
        assert parts.pitfall == whole.pitfall == "output-range-mismatch"
        assert parts.evidence["probe_range"] == pytest.approx(whole.evidence["probe_range"])
    scaled = run.samples(RANGE_SAMPLES, latent_scale=PROBE_LATENT_SCALE)
    assert torch.allclose(
        run.scaled_part(RANGE_SAMPLES, PROBE_LATENT_SCALE, slice(FAR_FIRST, RANGE_SAMPLES)),
        scaled[FAR_FIRST:],
        atol=1e-5,
    )


def test_a_pass_on_the_first_part_draws_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Tanh G on [-1, 1] data: the first 256 saturate at both bounds, nothing is out of
    # reach, and no larger draw can change that.
    run = train(case("shapes-dcgan").spec(), steps=20, seed=0)
    drawn = _parts_drawn(run, monkeypatch)
    assert_output_range_matches_data(run)
    assert drawn == [(0, FAR_FIRST)]


def test_an_open_verdict_is_read_from_the_whole_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Sigmoid twin: its first 256 leave half the span out of reach, a failure that more
    # samples could still undo (one below 0 would rule Sigmoid out), so the rest is drawn.
    run = train(case("output-range-mismatch").spec(), steps=20, seed=0)
    drawn = _parts_drawn(run, monkeypatch)
    with pytest.raises(GANAssertionError, match="looks like Sigmoid"):
        assert_output_range_matches_data(run)
    assert drawn == [(0, FAR_FIRST), (FAR_FIRST, RANGE_SAMPLES)]
    drawn.clear()
    with pytest.raises(GANAssertionError):
        assert_output_range_matches_data(run, samples=100)
    assert drawn == [(0, 100)]
