"""Every public check, fuzzed with the edge-case batches of ``strategies.image_batches``.

The property, for any drawn batch: a check passes, gives its verdict
(``GANAssertionError``), or refuses its input with a clear ``ValueError``/``TypeError``
(see :func:`judge`). Never any other exception: no ``IndexError``, no ``RuntimeError``
from torch, no ``ZeroDivisionError``, no bare ``AssertionError``, no warning (pyproject
turns warnings into errors, so a numpy or torch ``RuntimeWarning`` inside a check fails
too).

The checks that take Tensors are fed drawn batches directly (samples and real both,
images and 2-D points, 1 to 16 samples, 1x1 to 8x8 pixels, every float dtype). The checks
that take a run get a cheap one: a "replay" generator that outputs the samples of a drawn
batch (picked by z), a linear discriminator, drawn data, four training steps. Each test
also tallies what actually ran and asserts afterwards that every check was called on
runs of (nearly) every kind of generated batch and judged some, so that a property
cannot pass by having every example refused before the checks.

A few verdicts hold whatever the batch, and are asserted too: a finite batch compared
with itself is diverse and (unless it is one point) not blank; the built-in step passes
the wiring checks; the replay generator round-trips through its checkpoint exactly.
"""

from __future__ import annotations

import inspect
import linecache
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch import nn

import pytest_gan
from pytest_gan import (
    GANAssertionError,
    GANRun,
    GANSpec,
    GANTrainingError,
    assert_checkpoint_roundtrip,
    assert_conditioning_effective,
    assert_d_step_isolated,
    assert_data_normalized,
    assert_diverse,
    assert_generator_learns,
    assert_gradients_zeroed,
    assert_lipschitz,
    assert_losses_balanced,
    assert_losses_finite,
    assert_not_blank,
    assert_optimizers_cover,
    assert_output_range_matches_data,
    train,
)
from pytest_gan.checks.outputs import MIN_IMAGE_FEATURES
from pytest_gan.strategies import IMAGE_KINDS, image_batches

#: Deterministic: the same examples on every run, nothing read from or written to a
#: database. No health check needs suppressing: drawing a batch is fast, the checks and
#: the training runs are the slow part, and hypothesis does not time that.
FUZZ = settings(deadline=None, database=None, derandomize=True)

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

#: The value ranges batches are drawn relative to: tanh images, ToTensor images, raw pixels.
RANGES = ((-1.0, 1.0), (0.0, 1.0), (0.0, 255.0))

#: Words naming the input in a refusal's message, besides the check's own argument names.
INPUT_WORDS = frozenset(
    {"data", "samples", "real", "nan", "finite", "infinite", "dtype", "floating-point"}
)

_PACKAGE = Path(pytest_gan.__file__).resolve().parent


# -- the property -------------------------------------------------------------------------


def _raise_site(exc: BaseException) -> tuple[Path, str]:
    """The file and source line of the innermost frame of ``exc``'s traceback."""
    tb = exc.__traceback__
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    return Path(filename).resolve(), linecache.getline(filename, tb.tb_lineno).strip()


def assert_clear_refusal(exc: ValueError | TypeError, names: frozenset[str]) -> None:
    """A refusal is clear when pytest-gan raised it itself, on purpose (a ``raise``
    statement in the package, not an error of torch, numpy or Python surfacing through a
    call there) and its message names what is wrong: one of the called function's
    argument names, or a word naming the input (``INPUT_WORDS``)."""
    message = str(exc)
    path, line = _raise_site(exc)
    where = f"{type(exc).__name__} raised at {path}: {line!r}: {message!r}"
    assert path.is_relative_to(_PACKAGE) and line.startswith("raise"), (
        f"not a refusal of pytest-gan's own: {where}"
    )
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_-]*", message)}
    assert words & {n.lower() for n in names | INPUT_WORDS}, (
        f"the message names neither an argument ({', '.join(sorted(names))}) nor the input: {where}"
    )


def _argument_names(fn: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(fn).parameters)


def judge(
    tally: Counter[str], fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[str, GANAssertionError | None]:
    """Call ``fn`` and return its outcome, ``passed``, ``verdict`` (with the
    ``GANAssertionError``) or ``refused`` (a clear ``ValueError``/``TypeError``). Any other
    exception propagates, and fails the property."""
    name = getattr(fn, "__name__", "?")
    verdict = None
    try:
        fn(*args, **kwargs)
    except GANAssertionError as exc:
        outcome, verdict = "verdict", exc
    except (ValueError, TypeError) as exc:
        assert_clear_refusal(exc, _argument_names(fn))
        outcome = "refused"
    else:
        outcome = "passed"
    tally[f"{name}:{outcome}"] += 1
    event(f"{name}: {outcome}")
    return outcome, verdict


# -- the checks that take Tensors -----------------------------------------------------------


@st.composite
def sample_shapes(draw: st.DrawFn) -> tuple[int, ...]:
    """Images [N, C, H, W] (1 and 2 samples, 1x1 and 2x2 pixels, one or three channels),
    or 2-D points [N, 2]."""
    n = draw(st.sampled_from((16, 2, 3, 16, 2, 1)))
    if draw(st.booleans()):
        return (n, 2)
    side = draw(st.sampled_from((8, 1, 2)))
    return (n, draw(st.sampled_from((1, 3))), side, draw(st.sampled_from((side, 1))))


@dataclass(frozen=True, eq=False)
class Drawn:
    """A drawn batch and its kind. Its repr, which hypothesis prints for a failing example,
    says what matters (a batch's values follow from its kind, dtype and shape; the seed
    that drew them is replayed by ``derandomize``)."""

    kind: str
    x: torch.Tensor

    def __repr__(self) -> str:
        x = self.x
        finite = x[torch.isfinite(x)].double()
        values = (
            f"in [{float(finite.min()):.3g}, {float(finite.max()):.3g}]"
            if finite.numel()
            else "none"
        )
        dtype = str(x.dtype).removeprefix("torch.")
        bad = int((~torch.isfinite(x)).sum())
        return f"<{self.kind} {dtype} {list(x.shape)}: finite values {values}, {bad} non-finite>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints examples with IPython's protocol, a dataclass field by field.
        printer.text(repr(self))


@st.composite
def batches(draw: st.DrawFn, shape: tuple[int, ...], value_range: tuple[float, float]) -> Drawn:
    """A drawn batch of ``shape`` and a drawn dtype, with the kind drawn first so that the
    tallies can say which kinds reached the checks."""
    kind = draw(st.sampled_from(IMAGE_KINDS))
    dtype = draw(st.sampled_from(DTYPES))
    x = draw(image_batches(shape, kinds=(kind,), value_range=value_range, dtype=dtype))
    return Drawn(kind, x)


@st.composite
def samples_and_real(draw: st.DrawFn) -> tuple[Drawn, Drawn | None]:
    shape = draw(sample_shapes())
    value_range = draw(st.sampled_from(RANGES))
    samples = draw(batches(shape, value_range))
    if draw(st.integers(0, 4)) == 0:
        return samples, None
    n_real = draw(st.sampled_from((shape[0], 16, 2, shape[0], 16, 1)))
    real_shape = (n_real, *shape[1:])
    if draw(st.integers(0, 9)) == 0:  # another sample shape: a refusal naming real
        real_shape = (*real_shape[:-1], real_shape[-1] + 1)
    return samples, draw(batches(real_shape, value_range))


def test_the_output_checks_survive_any_samples_and_real() -> None:
    tally: Counter[str] = Counter()

    @settings(FUZZ, max_examples=500)
    @given(drawn=samples_and_real())
    def output_checks(drawn: tuple[Drawn, Drawn | None]) -> None:
        samples, real = drawn
        real_kind = "none" if real is None else real.kind
        for check in (assert_not_blank, assert_diverse):
            outcome, _ = judge(tally, check, samples.x, real=None if real is None else real.x)
            tally[f"{check.__name__}:samples={samples.kind}:{outcome}"] += 1
            tally[f"{check.__name__}:real={real_kind}:{outcome}"] += 1
        # And a verdict that holds for every finite batch: samples compared with themselves
        # are as diverse as the data, and as far from blank, unless every sample is the
        # same point (which assert_not_blank calls blank).
        x = samples.x
        if x.shape[0] >= 2 and bool(torch.isfinite(x).all()):
            assert_diverse(x, real=x)
            if x[0].numel() >= MIN_IMAGE_FEATURES or not bool((x == x[:1]).all()):
                assert_not_blank(x, real=x)
            tally["compared with themselves"] += 1

    output_checks()
    assert tally["compared with themselves"] >= 100, tally
    for check in ("assert_not_blank", "assert_diverse"):
        for outcome in ("passed", "verdict", "refused"):
            assert tally[f"{check}:{outcome}"] >= 10, (check, outcome, tally)
        for kind in IMAGE_KINDS:
            judged = tally[f"{check}:samples={kind}:passed"]
            judged += tally[f"{check}:samples={kind}:verdict"]
            assert judged or kind in ("nan", "inf"), (check, kind, tally)
    # Non-finite samples render blank: a verdict, not a refusal.
    assert tally["assert_not_blank:samples=nan:verdict"] > 0


@st.composite
def data_and_range(draw: st.DrawFn) -> tuple[Drawn, tuple[float, float]]:
    shape = draw(sample_shapes())
    return draw(batches(shape, draw(st.sampled_from(RANGES)))), draw(st.sampled_from(RANGES))


def test_the_normalisation_check_survives_any_data() -> None:
    tally: Counter[str] = Counter()

    @settings(FUZZ, max_examples=300)
    @given(drawn=data_and_range())
    def normalisation(drawn: tuple[Drawn, tuple[float, float]]) -> None:
        data, expected = drawn
        outcome, _ = judge(tally, assert_data_normalized, data.x, expected_range=expected)
        tally[f"{data.kind}:{outcome}"] += 1

    normalisation()
    for outcome in ("passed", "verdict", "refused"):
        assert tally[f"assert_data_normalized:{outcome}"] >= 10, (outcome, tally)
    for kind in IMAGE_KINDS:
        assert tally[f"{kind}:passed"] + tally[f"{kind}:verdict"] or kind in ("nan", "inf")


# -- the checks that take a run ---------------------------------------------------------------


class Replay(nn.Module):
    """G(z): a sample of a fixed batch, picked by z's first coordinate (so the same z
    always gives the same sample, and a z scaled far out gives the batch's first or last).
    ``gain`` gives the optimizers a parameter and G's loss a gradient; it adds exactly 0
    to the output whatever its value (NaN and inf included), so the checks see the drawn
    batch itself."""

    batch: torch.Tensor

    def __init__(self, batch: torch.Tensor, num_classes: int | None = None) -> None:
        super().__init__()
        self.register_buffer("batch", batch.clone())
        self.gain = nn.Parameter(torch.ones(()))
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        m = self.batch.shape[0]
        pick = (torch.special.ndtr(z[:, 0].double()) * m).long().clamp(0, m - 1)
        if y is not None and self.num_classes is not None:
            # Label c picks from the c-th share of the batch: labels change the samples
            # unless the batch's samples are all alike (or there is one).
            share = max(1, m // self.num_classes)
            pick = (pick % share + y.to(pick.device) * share).clamp(0, m - 1)
        zero = torch.nan_to_num(self.gain - self.gain.detach(), nan=0.0, posinf=0.0, neginf=0.0)
        out: torch.Tensor = self.batch[pick] + zero.to(self.batch.dtype)
        return out


class CondReplay(Replay):
    """G(z, y), for a conditional spec."""

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        assert y is not None
        return super().forward(z, y)


class LinearD(nn.Module):
    """D(x) = <w, x> + b, plus a learnt score per label for a conditional spec."""

    def __init__(self, features: int, dtype: torch.dtype, num_classes: int | None) -> None:
        super().__init__()
        self.linear = nn.Linear(features, 1, dtype=dtype)
        self.label = None if num_classes is None else nn.Embedding(num_classes, 1, dtype=dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out: torch.Tensor = self.linear(x.flatten(1))
        if self.label is not None and y is not None:
            out = out + self.label(y)
        return out


#: What each example trains: a handful of steps is enough for every record the checks
#: read (probes in the last third, wiring, the saturation probe).
RUN_STEPS = 4

RUN_SHAPES = ((8, 1, 4, 4), (2, 3, 1, 1), (16, 2), (3, 2), (5, 3, 2, 2))


@st.composite
def gans(draw: st.DrawFn, conditional: bool) -> tuple[Drawn, Drawn, dict[str, Any]]:
    """The drawn pieces of a run: the batch the generator replays (1, 2 or 8 samples), the
    data, and the spec's other arguments. Networks and data share one dtype (a float16
    batch would only be refused by a float32 discriminator before training)."""
    shape = draw(st.sampled_from(RUN_SHAPES))
    value_range = draw(st.sampled_from(RANGES))
    dtype = draw(st.sampled_from(DTYPES))
    kinds = [draw(st.sampled_from(IMAGE_KINDS)) for _ in ("fake", "data")]
    n_fake = draw(st.sampled_from((8, 1, 2)))
    fake, data = (
        Drawn(kind, draw(image_batches(s, kinds=(kind,), value_range=value_range, dtype=dtype)))
        for kind, s in zip(kinds, ((n_fake, *shape[1:]), shape), strict=True)
    )
    options = {
        "loss": draw(st.sampled_from(("bce", "hinge", "wgan-gp", "lsgan"))),
        "lr_g": draw(st.sampled_from((5e-2, 1e-4))),  # G moves enough to learn, or too little
        "dtype": dtype,
        "num_classes": 2 if conditional else None,
    }
    return fake, data, options


def make_spec(fake: torch.Tensor, data: torch.Tensor, options: dict[str, Any]) -> GANSpec:
    num_classes = options["num_classes"]
    features = int(data[0].numel())
    dtype, lr_g = options["dtype"], options["lr_g"]

    def optimizers(
        g: nn.Module, d: nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.Adam(g.parameters(), lr=lr_g, betas=(0.5, 0.999)),
            torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        )

    generator = Replay(fake) if num_classes is None else CondReplay(fake, num_classes)
    labels = torch.arange(data.shape[0]) % 2
    return GANSpec(
        generator=generator,
        discriminator=LinearD(features, dtype, num_classes),
        data=data if num_classes is None else (data, labels),
        latent_dim=2,
        loss=options["loss"],
        optimizers=optimizers,
        num_classes=num_classes,
        batch_size=4,
    )


RUN_CHECKS: tuple[Callable[..., None], ...] = (
    assert_not_blank,
    assert_diverse,
    assert_data_normalized,
    assert_output_range_matches_data,
    assert_losses_finite,
    assert_losses_balanced,
    assert_generator_learns,
    assert_d_step_isolated,
    assert_gradients_zeroed,
    assert_optimizers_cover,
    assert_lipschitz,
    assert_checkpoint_roundtrip,
)


WIRING_CHECKS = (assert_d_step_isolated, assert_gradients_zeroed, assert_optimizers_cover)


def check_run(tally: Counter[str], run: GANRun, fake_kind: str) -> None:
    calls: list[tuple[Callable[..., None], dict[str, Any]]] = [(c, {}) for c in RUN_CHECKS]
    # A BCE, hinge or LSGAN discriminator has no constraint of its own: give the bound.
    if run.spec.loss != "wgan-gp":
        calls[RUN_CHECKS.index(assert_lipschitz)] = (assert_lipschitz, {"max_constant": 2.0})
    if run.conditional:
        calls.append((assert_conditioning_effective, {}))
    for check, kwargs in calls:
        outcome, verdict = judge(tally, check, run, **kwargs)
        tally[f"{check.__name__}:fake={fake_kind}:called"] += 1
        tally[f"{check.__name__}:fake={fake_kind}:{outcome}"] += 1
        # Verdicts that hold whatever the batch: the built-in step is wired right, and the
        # replay generator's state dict (its batch, its gain) is all there is to it, so it
        # round-trips exactly (it may never have left its initialisation: a verdict too).
        if check in WIRING_CHECKS:
            assert outcome == "passed", verdict
        if verdict is not None and check is assert_checkpoint_roundtrip:
            assert verdict.pitfall == "checkpoint-not-trained", verdict


#: Kinds of data GANSpec refuses: NaN- or inf-bearing, and one sample repeated (a value
#: everywhere, or one random image copied).
SPEC_REFUSED_KINDS = (
    "nan",
    "inf",
    "blank",
    "constant",
    "saturated-low",
    "saturated-high",
    "duplicates",
)


def fuzz_runs(tally: Counter[str], conditional: bool, examples: int) -> None:
    @settings(FUZZ, max_examples=examples)
    @given(drawn=gans(conditional))
    def run_checks(drawn: tuple[Drawn, Drawn, dict[str, Any]]) -> None:
        fake, data, options = drawn
        fake_kind = fake.kind
        try:
            spec = make_spec(fake.x, data.x, options)
        except (ValueError, TypeError) as exc:
            # GANSpec refuses non-finite data and data that is one sample repeated, naming
            # it: allowed, and counted.
            assert_clear_refusal(exc, _argument_names(GANSpec))
            tally[f"spec refused:data={data.kind}"] += 1
            event(f"spec refused data={data.kind}")
            return
        try:
            run = train(spec, steps=RUN_STEPS, seed=0, device="cpu")
        except GANTrainingError as exc:
            assert "at step" in str(exc), exc
            tally[f"training raised:fake={fake_kind}"] += 1
            event(f"training raised fake={fake_kind}")
            return
        except (ValueError, TypeError) as exc:
            assert_clear_refusal(exc, _argument_names(train) | _argument_names(GANSpec))
            tally[f"train refused:fake={fake_kind}"] += 1
            event(f"train refused fake={fake_kind}")
            return
        tally["runs"] += 1
        check_run(tally, run, fake_kind)

    run_checks()


def assert_checks_ran(
    tally: Counter[str], checks: tuple[Callable[..., None], ...], kinds: int = len(IMAGE_KINDS)
) -> None:
    """Every check was called on runs of at least ``kinds`` kinds of generated batch (all
    of them by default), and gave some runs a pass or a verdict rather than refusing them
    all."""
    for check in checks:
        name = check.__name__
        called = [k for k in IMAGE_KINDS if tally[f"{name}:fake={k}:called"]]
        assert len(called) >= kinds, (name, called, tally)
        judged = tally[f"{name}:passed"] + tally[f"{name}:verdict"]
        assert judged > 0, (name, tally)


def test_the_run_checks_survive_any_generated_batch_and_data() -> None:
    tally: Counter[str] = Counter()
    fuzz_runs(tally, conditional=False, examples=200)
    # GANSpec refuses non-finite data and data of one repeated sample (7 kinds in 12), and
    # wgan-gp's penalty fails on half-precision networks (GANTrainingError): the rest reach
    # the checks (80 of 200 runs, derandomized).
    assert tally["runs"] >= 70, tally
    refused = {k.split("data=")[1] for k in tally if k.startswith("spec refused:")}
    assert refused <= set(SPEC_REFUSED_KINDS), tally
    assert_checks_ran(tally, RUN_CHECKS)


def test_the_run_checks_survive_a_conditional_generator_of_any_batch() -> None:
    tally: Counter[str] = Counter()
    fuzz_runs(tally, conditional=True, examples=80)
    assert tally["runs"] >= 50, tally
    # Fewer examples: most kinds, not necessarily every one, reach the conditional checks.
    assert_checks_ran(tally, (*RUN_CHECKS, assert_conditioning_effective), kinds=10)
    # Labels that pick other samples are told apart; one sample for every label is not.
    assert tally["assert_conditioning_effective:passed"] > 0, tally
    assert tally["assert_conditioning_effective:verdict"] > 0, tally
