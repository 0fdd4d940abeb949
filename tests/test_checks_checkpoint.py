"""assert_checkpoint_roundtrip: the zoo's checkpoint twins across seeds, each named cause on
a small hand-made generator, a refused unsafe checkpoint, and bad input."""

from __future__ import annotations

import copy
import functools
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from fixtures import models
from fixtures.zoo import BROKEN, IMAGE_LATENT, case
from pytest_gan import GANAssertionError, TrainContext, train
from pytest_gan.checks._subject import infer_latent_shape, infer_num_classes
from pytest_gan.checks.checkpoint import OUTPUT_RTOL, assert_checkpoint_roundtrip
from pytest_gan.run import GANRun
from tests.tiny import LATENT, tiny_spec

# Ten steps put every BatchNorm statistic of the zoo's DCGAN generator away from its
# initial value; the check needs nothing more from a run. instrument=False trains the
# very same way, at a fraction of the cost.
STEPS = 10
SEEDS = range(10)

MISMATCH = BROKEN["checkpoint-roundtrip-mismatch"]
NOT_TRAINED = BROKEN["checkpoint-not-trained"]


@functools.cache
def zoo_run(name: str, seed: int) -> GANRun:
    return train(case(name).spec(), steps=STEPS, seed=seed, instrument=False)


# -- the zoo ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_the_parameters_only_twin_is_caught(seed: int) -> None:
    run = zoo_run(MISMATCH.name, seed)
    save, load = run.spec.save_checkpoint, run.spec.load_checkpoint
    assert save is not None and load is not None
    for call in (
        # A run is checked through its spec's own checkpoint code.
        lambda: assert_checkpoint_roundtrip(run),
        lambda: assert_checkpoint_roundtrip(
            run.generator, run.spec.make_generator, save=save, load=load
        ),
    ):
        with pytest.raises(GANAssertionError, match="strict=False") as caught:
            call()
        error = caught.value
        assert error.pitfall == "checkpoint-roundtrip-mismatch"
        assert "running_mean" in str(error) and "num_batches_tracked" in str(error)
        missing = error.evidence["missing_from_checkpoint"]
        assert missing and all(".running_" in k or "num_batches" in k for k in missing)
        assert error.evidence["silent_load"] is True
        assert error.evidence["output_relative_diff"] > 50 * OUTPUT_RTOL


@pytest.mark.parametrize("seed", SEEDS)
def test_the_fresh_generator_twin_is_caught(seed: int) -> None:
    run = zoo_run(NOT_TRAINED.name, seed)
    save, load = run.spec.save_checkpoint, run.spec.load_checkpoint
    assert save is not None and load is not None
    with pytest.raises(GANAssertionError, match="untrained generator") as caught:
        assert_checkpoint_roundtrip(run)
    evidence = caught.value.evidence
    assert caught.value.pitfall == "checkpoint-not-trained"
    assert evidence["trained_parameters_kept"] == 0
    assert evidence["distance_to_init"] < evidence["distance_to_trained"]
    assert evidence["distance_to_init"] < evidence["trained_to_init"]
    # Without the run, a factory alone tells it by the BatchNorm statistics.
    with pytest.raises(GANAssertionError, match="at their initial values") as caught:
        assert_checkpoint_roundtrip(run.generator, run.spec.make_generator, save=save, load=load)
    assert caught.value.pitfall == "checkpoint-not-trained"
    assert len(caught.value.evidence["buffers_at_init"]) == 6


@pytest.mark.parametrize("seed", SEEDS)
def test_a_faithful_round_trip_passes(seed: int) -> None:
    run = zoo_run(MISMATCH.reference or "", seed)
    assert run.spec.save_checkpoint is None and run.spec.load_checkpoint is None
    assert_checkpoint_roundtrip(run)
    assert_checkpoint_roundtrip(run.generator, run.spec.make_generator)
    # The latent shape from the generator's latent_dim attribute; a module as factory.
    assert_checkpoint_roundtrip(run.generator, models.DCGANGenerator(IMAGE_LATENT, width=64))
    # Arguments given to the call win over the spec's own checkpoint code.
    twin = zoo_run(MISMATCH.name, seed)
    assert_checkpoint_roundtrip(
        twin,
        save=lambda m, p: torch.save(m.state_dict(), p),
        load=lambda p: _strict_load(p, twin.spec.make_generator, twin.device),
    )


def _strict_load(path: Path, factory: Any, device: torch.device) -> nn.Module:
    module: nn.Module = factory().to(device)
    module.load_state_dict(torch.load(path, weights_only=True, map_location=device))
    return module


def test_a_conditional_generator_round_trips() -> None:
    run = train(case("shapes-cgan").spec(), steps=3, seed=0, instrument=False)
    assert run.spec.num_classes is not None
    assert_checkpoint_roundtrip(run)
    # num_classes from the generator's attribute, as latent_dim.
    assert_checkpoint_roundtrip(run.generator, run.spec.make_generator)
    with pytest.raises(GANAssertionError, match="buffers") as caught:
        assert_checkpoint_roundtrip(run, save=params_only, load=non_strict(run.spec.make_generator))
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"


# -- hand-made generators ----------------------------------------------------------------


class BNGenerator(nn.Module):
    def __init__(self, sn: bool = False) -> None:
        super().__init__()
        first, last = nn.Linear(LATENT, 16), nn.Linear(16, 2)
        if sn:
            first, last = spectral_norm(first), spectral_norm(last)
        self.net = nn.Sequential(first, nn.BatchNorm1d(16), nn.ReLU(), last)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z)
        return out


def trained(
    module: nn.Module,
    steps: int = 5,
    *,
    adam: bool = False,
    params: list[nn.Parameter] | None = None,
    dtype: torch.dtype = torch.float32,
    classes: int | None = None,
) -> nn.Module:
    """``module`` with its parameters and buffers moved as training would move them, in
    the mode it is in: SGD at 0.1 (or Adam at 2e-4) over ``params`` (default: every
    parameter that requires grad), z in ``dtype``, labels for ``G(z, y)`` with
    ``classes``."""
    gen = torch.Generator().manual_seed(1)
    chosen = params if params is not None else [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(chosen, lr=2e-4) if adam else torch.optim.SGD(chosen, lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        z = torch.randn(32, LATENT, generator=gen).to(dtype)
        y = None if classes is None else torch.randint(0, classes, (32,), generator=gen)
        module(*((z,) if y is None else (z, y))).float().square().mean().backward()
        opt.step()
    return module


def params_only(module: nn.Module, path: Path) -> None:
    torch.save({k: v.detach() for k, v in module.named_parameters()}, path)


def non_strict(factory: Any) -> Any:
    def load(path: Path) -> nn.Module:
        module: nn.Module = factory()
        module.load_state_dict(torch.load(path, weights_only=True), strict=False)
        return module

    return load


def strict(factory: Any) -> Any:
    def load(path: Path) -> nn.Module:
        module: nn.Module = factory()
        module.load_state_dict(torch.load(path, weights_only=True))
        return module

    return load


def test_missing_buffers_are_named_whether_the_load_is_strict_or_not() -> None:
    g = trained(BNGenerator())
    with pytest.raises(GANAssertionError, match="could not be loaded back") as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, save=params_only, latent_dim=LATENT)
    assert caught.value.evidence["missing_from_checkpoint"] == [
        "net.1.running_mean",
        "net.1.running_var",
        "net.1.num_batches_tracked",
    ]
    assert "silent_load" not in caught.value.evidence
    with pytest.raises(GANAssertionError, match="strict=False") as caught:
        assert_checkpoint_roundtrip(
            g, BNGenerator, save=params_only, load=non_strict(BNGenerator), latent_dim=LATENT
        )
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"
    assert caught.value.evidence["differing"] == caught.value.evidence["missing_from_checkpoint"]


def test_spectral_norm_vectors_round_trip_and_their_loss_is_named() -> None:
    g = trained(BNGenerator(sn=True))
    assert any(k.endswith("._u") for k in g.state_dict())
    assert_checkpoint_roundtrip(g, lambda: BNGenerator(sn=True), latent_dim=LATENT)
    with pytest.raises(GANAssertionError, match="spectral-norm") as caught:
        assert_checkpoint_roundtrip(
            g,
            lambda: BNGenerator(sn=True),
            save=params_only,
            load=non_strict(lambda: BNGenerator(sn=True)),
            latent_dim=LATENT,
        )
    missing = caught.value.evidence["missing_from_checkpoint"]
    assert {k.rsplit(".", 1)[-1] for k in missing} >= {"_u", "_v", "running_mean"}


def test_a_spectrally_normalised_discriminator_round_trips_too() -> None:
    # Any module with a latent input works: the zoo's spectral-norm D, given images as "z".
    d = models.DCGANDiscriminator(norm="none", spectral_norm=True)
    trained_d = copy.deepcopy(d).train()
    with torch.no_grad():
        trained_d(torch.randn(8, 1, 16, 16))  # a power iteration moves u and v
    assert_checkpoint_roundtrip(trained_d, d, latent_dim=(1, 16, 16))
    with pytest.raises(GANAssertionError):
        assert_checkpoint_roundtrip(trained_d, d, latent_dim=(1, 16, 16), load=lambda p: d)


def test_module_prefixes_of_data_parallel_are_named() -> None:
    g = trained(BNGenerator())
    wrapped = nn.DataParallel(g)
    # The default route saves the wrapper's keys and loads them into a plain generator.
    with pytest.raises(GANAssertionError, match=r"'module\.'") as caught:
        assert_checkpoint_roundtrip(wrapped, BNGenerator, latent_dim=LATENT)
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"
    assert caught.value.evidence["prefix_mismatch"] is True
    # Renamed keys loaded non-strictly: nothing is loaded, and nothing complains.
    with pytest.raises(GANAssertionError, match="strict=False") as caught:
        assert_checkpoint_roundtrip(
            wrapped, BNGenerator, load=non_strict(BNGenerator), latent_dim=LATENT
        )
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"
    assert caught.value.evidence["prefix_mismatch"] is True
    # Saving the wrapped module's own state dict is the fix.
    assert_checkpoint_roundtrip(
        wrapped,
        BNGenerator,
        save=lambda m, p: torch.save(m.module.state_dict(), p),
        latent_dim=LATENT,
    )


def touch_marker(path: str) -> None:
    Path(path).touch()


class Trap:
    """Unpickling it writes a marker file: proof that a load executed the checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (touch_marker, (str(self.marker),))


def test_a_checkpoint_that_needs_unsafe_unpickling_is_refused_unread(tmp_path: Path) -> None:
    g = trained(BNGenerator())
    marker = tmp_path / "executed"
    kept = tmp_path / "kept.pt"
    loads: list[Path] = []

    def save(module: nn.Module, path: Path) -> None:
        torch.save({"state": module.state_dict(), "extra": Trap(marker)}, path)
        kept.write_bytes(path.read_bytes())

    def unsafe_load(path: Path) -> nn.Module:
        loads.append(path)
        obj = torch.load(path, weights_only=False)
        module = BNGenerator()
        module.load_state_dict(obj["state"])
        return module

    for load in (None, unsafe_load):
        with pytest.raises(GANAssertionError, match="weights_only=True") as caught:
            assert_checkpoint_roundtrip(g, BNGenerator, save=save, load=load, latent_dim=LATENT)
        assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"
        assert caught.value.evidence["globals"].endswith(".touch_marker")
    assert not loads and not marker.exists()
    # The trap is real: an unsafe load of the same file runs it.
    torch.load(kept, weights_only=False)
    assert marker.exists()


def test_a_whole_pickled_module_is_refused() -> None:
    g = trained(BNGenerator())
    with pytest.raises(GANAssertionError, match="state_dict") as caught:
        assert_checkpoint_roundtrip(
            g, BNGenerator, save=lambda m, p: torch.save(m, p), latent_dim=LATENT
        )
    assert "BNGenerator" in caught.value.evidence["globals"]
    # A user load that refuses it itself is explained the same way.
    with pytest.raises(GANAssertionError, match="weights_only=True"):
        assert_checkpoint_roundtrip(
            g,
            BNGenerator,
            save=lambda m, p: torch.save(m, p.with_suffix(".other")),
            load=lambda p: torch.load(p.with_suffix(".other"), weights_only=True),
            latent_dim=LATENT,
        )


def test_a_load_that_ignores_the_file_is_told_from_a_bad_save() -> None:
    g = trained(BNGenerator())
    with pytest.raises(GANAssertionError, match="does not put them into the model") as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, load=lambda p: BNGenerator(), latent_dim=LATENT)
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"


def test_a_copy_taken_before_training_is_not_trained() -> None:
    initial = BNGenerator()
    g = trained(copy.deepcopy(initial))
    with pytest.raises(GANAssertionError, match="equals the reference") as caught:
        assert_checkpoint_roundtrip(
            g,
            BNGenerator,
            save=lambda m, p: torch.save(initial.state_dict(), p),
            reference=initial,
            latent_dim=LATENT,
        )
    assert caught.value.pitfall == "checkpoint-not-trained"
    # The reference proves the round trip of a generator that was never trained.
    with pytest.raises(GANAssertionError, match="round trip is exact") as caught:
        assert_checkpoint_roundtrip(initial, BNGenerator, reference=initial, latent_dim=LATENT)
    assert caught.value.pitfall == "checkpoint-not-trained"
    assert_checkpoint_roundtrip(g, BNGenerator, reference=initial, latent_dim=LATENT)


class NormGenerator(nn.Module):
    """A small generator with one kind of normalisation (or none): the fixed initial
    values a bare generator's check can read (a normalisation's weight 1 and bias 0, its
    running statistics) come with it."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        layer: nn.Module = {
            "batch": lambda: nn.BatchNorm1d(16),
            "layer": lambda: nn.LayerNorm(16),
            "group": lambda: nn.GroupNorm(4, 16),
            "none": nn.Identity,
        }[norm]()
        self.net = nn.Sequential(nn.Linear(LATENT, 16), layer, nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z)
        return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("norm", ["batch", "layer", "group"])
def test_a_copy_never_updated_is_caught_by_its_fixed_initial_values(norm: str, seed: int) -> None:
    # An EMA or "best" copy taken before training whose update is never called: the round
    # trip is exact, and with a factory (as reference too) its random weights are just
    # another draw, so only the tensors every fresh instance sets alike can tell.
    torch.manual_seed(seed)
    factory = functools.partial(NormGenerator, norm)
    initial = factory()
    copied = copy.deepcopy(initial)
    for call in (
        lambda: assert_checkpoint_roundtrip(copied, factory, latent_dim=LATENT),
        lambda: assert_checkpoint_roundtrip(copied, factory, reference=factory, latent_dim=LATENT),
    ):
        with pytest.raises(GANAssertionError, match="never took a training step") as caught:
            call()
        assert caught.value.pitfall == "checkpoint-not-trained"
        fixed = caught.value.evidence["at_fixed_init"]
        assert "net.1.weight" in fixed and "net.1.bias" in fixed
        assert ("net.1.num_batches_tracked" in fixed) == (norm == "batch")
    # An EMA copy is often frozen whole (requires_grad_(False)): still told.
    frozen = copy.deepcopy(initial).requires_grad_(False)
    with pytest.raises(GANAssertionError, match="never took a training step"):
        assert_checkpoint_roundtrip(frozen, factory, latent_dim=LATENT)
    # One optimizer step moves them: the generator that took it passes, frozen whole
    # afterwards (made ready for inference) or not.
    stepped = trained(copy.deepcopy(initial), steps=1)
    assert_checkpoint_roundtrip(
        copy.deepcopy(stepped).requires_grad_(False), factory, latent_dim=LATENT
    )
    assert_checkpoint_roundtrip(stepped, factory, reference=factory, latent_dim=LATENT)
    # So does one step in eval mode (BatchNorm's statistics stay; its weight moves).
    eval_step = trained(copy.deepcopy(initial).eval(), steps=1)
    assert_checkpoint_roundtrip(eval_step, factory, latent_dim=LATENT)


class FrozenNorm(nn.Module):
    """A LayerNorm kept at its initial weight and bias (frozen) between trained layers."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(LATENT, 16),
            nn.LayerNorm(16).requires_grad_(False),
            nn.ReLU(),
            nn.Linear(16, 2),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z)
        return out


def test_what_a_step_never_moves_says_nothing_of_training() -> None:
    g = trained(FrozenNorm())
    assert torch.equal(g.net[1].weight, torch.ones(16))
    assert_checkpoint_roundtrip(g, FrozenNorm, reference=FrozenNorm, latent_dim=LATENT)
    with pytest.raises(GANAssertionError, match="equals the reference"):
        # ... while the exact comparison with a given initial state still tells.
        initial = FrozenNorm()
        assert_checkpoint_roundtrip(
            copy.deepcopy(initial), FrozenNorm, reference=initial, latent_dim=LATENT
        )


def test_a_copy_never_updated_gets_no_verdict_where_no_initial_value_is_known() -> None:
    # What the check cannot tell it does not claim: a generator of random-initialised
    # layers alone, or a factory that deep-copies one module (its instances all alike),
    # leave a faithful round trip of an untrained copy a pass.
    g = NormGenerator("none")
    assert_checkpoint_roundtrip(g, functools.partial(NormGenerator, "none"), latent_dim=LATENT)
    module = NormGenerator("batch")
    assert_checkpoint_roundtrip(copy.deepcopy(module), module, latent_dim=LATENT)


class _Sequential(nn.Module):
    """``nn.Sequential`` of ``layers`` as a generator (a class, so ``factory`` can build it)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z)
        return out


def _bf16_rms() -> nn.Module:
    return _Sequential(nn.Linear(LATENT, 16), nn.RMSNorm(16), nn.ReLU(), nn.Linear(16, 2)).to(
        torch.bfloat16
    )


def _bn_without_affine() -> nn.Module:
    return _Sequential(
        nn.Linear(LATENT, 16), nn.BatchNorm1d(16, affine=False), nn.ReLU(), nn.Linear(16, 2)
    )


_PRETRAINED = _Sequential(nn.Linear(LATENT, 16), nn.BatchNorm1d(16))
_PRETRAINED.net[1].running_var.fill_(0.5)  # as if loaded from another training
_PRETRAINED.net[1].num_batches_tracked.fill_(1000)


def _with_pretrained_encoder() -> nn.Module:
    encoder = copy.deepcopy(_PRETRAINED).requires_grad_(False).eval()
    return _Sequential(encoder, nn.ReLU(), nn.Linear(16, 2))


@pytest.mark.parametrize(
    "case", ["bf16 RMSNorm", "eval-mode BatchNorm without affine", "frozen later", "pretrained"]
)
def test_a_trained_generator_whose_fixed_values_stayed_is_not_called_untrained(case: str) -> None:
    # Each trains for real, yet keeps every tensor set to zeros or ones where it was: a
    # half-precision update of a weight of 1 rounds away; a BatchNorm without affine
    # parameters, trained in eval mode, has only buffers, which never move; a norm frozen by
    # the script after construction; a pretrained part the factory loads and freezes.
    torch.manual_seed(0)
    factory: Any
    if case == "bf16 RMSNorm":
        factory = _bf16_rms
        g = factory()
        trained(g, 200, adam=True, dtype=torch.bfloat16)
        assert bool((g.net[1].weight == 1).all())  # rounded away, the premise of the case
    elif case == "eval-mode BatchNorm without affine":
        factory = _bn_without_affine
        g = factory().eval()
        trained(g, 20, adam=True)
    elif case == "frozen later":
        factory = functools.partial(NormGenerator, "layer")
        g = factory()
        g.net[1].requires_grad_(False)
        trained(g, 20, adam=True)
    else:
        factory = _with_pretrained_encoder
        g = factory()
        trained(g, 20, adam=True)
    assert_checkpoint_roundtrip(g, factory, reference=factory, latent_dim=LATENT)


def test_a_generator_whose_optimizer_left_its_norm_out_is_told_where_to_look() -> None:
    g = NormGenerator("layer")
    trained(
        g, 20, adam=True, params=[g.net[0].weight, g.net[0].bias, g.net[3].weight, g.net[3].bias]
    )
    with pytest.raises(GANAssertionError, match="assert_optimizers_cover") as caught:
        assert_checkpoint_roundtrip(g, functools.partial(NormGenerator, "layer"), latent_dim=LATENT)
    assert caught.value.evidence["at_fixed_init"] == ["net.1.weight", "net.1.bias"]


class SparseCondG(nn.Module):
    """G(z, y) with a sparse label embedding: its gradient is a sparse tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(3, LATENT, sparse=True)
        self.net = nn.Sequential(nn.Linear(LATENT, 16), nn.LayerNorm(16), nn.Linear(16, 2))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z + self.embed(y))
        return out


def test_a_generator_with_sparse_gradients_is_judged() -> None:
    initial = SparseCondG()
    assert_checkpoint_roundtrip(
        trained(copy.deepcopy(initial), 3, classes=3), SparseCondG, num_classes=3
    )
    with pytest.raises(GANAssertionError) as caught:
        assert_checkpoint_roundtrip(copy.deepcopy(initial), SparseCondG, num_classes=3)
    assert caught.value.evidence["at_fixed_init"] == ["net.1.weight", "net.1.bias"]


def test_the_step_that_tells_what_moves_leaves_the_callers_modules_alone() -> None:
    # A factory that builds each generator around one shared encoder: the step is taken on
    # a copy, so the caller's pending gradients and running statistics stay as they were.
    encoder = nn.Sequential(nn.Linear(LATENT, 16), nn.BatchNorm1d(16))
    g = _Sequential(encoder, nn.ReLU(), nn.Linear(16, 2))
    g(torch.randn(4, LATENT)).sum().backward()
    grad, count = encoder[0].weight.grad.clone(), encoder[1].num_batches_tracked.clone()
    stats = encoder[1].running_mean.clone()
    with pytest.raises(GANAssertionError):  # no optimizer step yet: it never trained
        assert_checkpoint_roundtrip(
            g, lambda: _Sequential(encoder, nn.ReLU(), nn.Linear(16, 2)), latent_dim=LATENT
        )
    assert encoder[0].weight.grad is not None and torch.equal(encoder[0].weight.grad, grad)
    assert torch.equal(encoder[1].num_batches_tracked, count)
    assert torch.equal(encoder[1].running_mean, stats)


def test_one_sample_still_tells_a_copy_with_batchnorm() -> None:
    factory = functools.partial(NormGenerator, "batch")
    with pytest.raises(GANAssertionError, match="never took a training step"):
        assert_checkpoint_roundtrip(factory(), factory, samples=1, latent_dim=LATENT)


def test_a_run_whose_generator_never_trained_carries_its_initialisation() -> None:
    def step(ctx: TrainContext, real: torch.Tensor) -> dict[str, float]:
        return {"d_loss": 1.0, "g_loss": 1.0}

    run = train(tiny_spec(train_step=step), steps=2, instrument=False)
    with pytest.raises(GANAssertionError, match="initial generator") as caught:
        assert_checkpoint_roundtrip(run)
    assert caught.value.pitfall == "checkpoint-not-trained"


def test_other_weights_without_a_factory_are_a_mismatch_with_a_hint() -> None:
    g = trained(BNGenerator())
    with pytest.raises(GANAssertionError, match="factory= or reference=") as caught:
        assert_checkpoint_roundtrip(
            g,
            save=lambda m, p: torch.save(BNGenerator().state_dict(), p),
            load=strict(BNGenerator),
            latent_dim=LATENT,
        )
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"


def test_state_outside_the_state_dict_shows_in_the_outputs() -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(LATENT, 2)
            self.scale = 1.0  # a plain attribute: not saved

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.linear(z) * self.scale
            return out

    g = Scaled()
    g.scale = 3.0
    with pytest.raises(GANAssertionError, match="outside its state dict") as caught:
        assert_checkpoint_roundtrip(g, Scaled, latent_dim=LATENT)
    assert caught.value.evidence["differing"] == []
    assert caught.value.evidence["output_relative_diff"] > OUTPUT_RTOL


def test_a_generator_that_draws_its_own_noise_round_trips() -> None:
    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(LATENT, 2)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.linear(z) + torch.randn(z.shape[0], 2)
            return out

    assert_checkpoint_roundtrip(Noisy(), Noisy, latent_dim=LATENT)


def test_a_checkpoint_inside_a_larger_dict_is_read() -> None:
    g = trained(BNGenerator())

    def save(module: nn.Module, path: Path) -> None:
        sd = {k: v for k, v in module.state_dict().items() if "running" not in k}
        torch.save({"generator": sd, "epoch": 3}, path)

    def load(path: Path) -> nn.Module:
        module = BNGenerator()
        module.load_state_dict(torch.load(path, weights_only=True)["generator"], strict=False)
        return module

    assert_checkpoint_roundtrip(
        g,
        BNGenerator,
        save=lambda m, p: torch.save({"generator": m.state_dict(), "epoch": 3}, p),
        load=_nested_load,
        latent_dim=LATENT,
    )
    with pytest.raises(GANAssertionError, match="running_var") as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, save=save, load=load, latent_dim=LATENT)
    assert caught.value.evidence["missing_from_checkpoint"] == [
        "net.1.running_mean",
        "net.1.running_var",
    ]


def test_a_snapshot_of_several_generators_is_read_for_the_one_checked() -> None:
    # A training script's snapshot {"G": ..., "D": ..., "G_ema": ...} (StyleGAN2-ADA's, a
    # new user's EMA DCGAN's): G and G_ema share every key; the one checked is G_ema.
    g, g_ema = trained(BNGenerator()), trained(BNGenerator())
    d = nn.Linear(2, 1)

    def save(module: nn.Module, path: Path) -> None:
        snapshot = {"G": g.state_dict(), "D": d.state_dict(), "G_ema": g_ema.state_dict()}
        torch.save(snapshot, path)

    def load(path: Path) -> nn.Module:
        module = BNGenerator()
        module.load_state_dict(torch.load(path, weights_only=True)["G_ema"])
        return module

    assert_checkpoint_roundtrip(g_ema, BNGenerator, save=save, load=load, latent_dim=LATENT)
    # A load that builds G_ema and never fills it: the file holds it trained, so the load
    # is at fault, not the save (read against G's tensors, it looked like a fresh save).
    with pytest.raises(GANAssertionError, match="does not put them into the model") as caught:
        assert_checkpoint_roundtrip(
            g_ema, BNGenerator, save=save, load=lambda p: BNGenerator(), latent_dim=LATENT
        )
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"


def _nested_load(path: Path) -> nn.Module:
    module = BNGenerator()
    module.load_state_dict(torch.load(path, weights_only=True)["generator"])
    return module


def test_a_save_or_load_that_raises_fails_the_check() -> None:
    g = trained(BNGenerator())

    def broken_save(module: nn.Module, path: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(GANAssertionError, match="save raised OSError: disk full") as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, save=broken_save, latent_dim=LATENT)
    assert isinstance(caught.value.__cause__, OSError)

    def cpu_only_load(path: Path) -> nn.Module:
        raise RuntimeError(
            "Attempting to deserialize object on a CUDA device but torch.cuda.is_available() "
            "is False. If you are running on a CPU-only machine, please use torch.load with "
            "map_location=torch.device('cpu') to map your storages to the CPU."
        )

    with pytest.raises(GANAssertionError, match="map_location=device") as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, load=cpu_only_load, latent_dim=LATENT)
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"


def test_the_callers_state_is_left_as_it_was() -> None:
    g = trained(BNGenerator())
    g.train()
    g.net[1].eval()
    buffers = {k: v.clone() for k, v in g.state_dict().items()}
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    assert_checkpoint_roundtrip(g, BNGenerator, latent_dim=LATENT)
    with pytest.raises(GANAssertionError):
        assert_checkpoint_roundtrip(g, BNGenerator, save=params_only, latent_dim=LATENT)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    assert g.training and not g.net[1].training and g.net[0].training
    assert all(torch.equal(buffers[k], v) for k, v in g.state_dict().items())


def test_a_module_on_another_device_than_expected_is_named() -> None:
    g = trained(BNGenerator())
    # The load leaves the module on the CPU where "meta" was declared the expected device.
    with pytest.raises(GANAssertionError, match="is on cpu, not on meta") as caught:
        assert_checkpoint_roundtrip(
            g, BNGenerator, load=strict(BNGenerator), device="meta", latent_dim=LATENT
        )
    assert caught.value.evidence["device"] == "cpu"
    assert caught.value.evidence["differing"] == []


@pytest.mark.parametrize(
    "device",
    [
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        )
    ],
)
def test_a_load_mapped_to_another_device_is_named(device: str) -> None:
    run = train(case("shapes-dcgan").spec(), steps=3, device=device, instrument=False)
    assert_checkpoint_roundtrip(run)

    def to_cpu(path: Path) -> nn.Module:
        module = run.spec.make_generator()
        module.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
        return module

    with pytest.raises(GANAssertionError, match=f"on cpu, not on {device}") as caught:
        assert_checkpoint_roundtrip(run, load=to_cpu)
    assert caught.value.pitfall == "checkpoint-roundtrip-mismatch"
    assert caught.value.evidence["differing"] == []
    assert caught.value.evidence["output_relative_diff"] <= OUTPUT_RTOL
    assert_checkpoint_roundtrip(run, load=to_cpu, device="cpu")


# -- bad input ---------------------------------------------------------------------------


def test_bad_input_names_the_argument() -> None:
    g = BNGenerator()
    run = train(tiny_spec(), steps=1, instrument=False)
    cases: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (TypeError, "generator must be an nn.Module or a GANRun", {"generator": "G"}),
        (TypeError, "factory must be a zero-argument callable", {"factory": 3}),
        (TypeError, "factory must return an nn.Module", {"factory": lambda: "G"}),
        (ValueError, "factory must build a fresh generator", {"factory": g}),
        (ValueError, "factory is needed", {"factory": None}),
        (TypeError, "save must be a callable", {"save": "torch.save"}),
        (TypeError, "load must be a callable", {"load": 1}),
        (TypeError, "load must return an nn.Module", {"load": lambda p: torch.load(p)}),
        (TypeError, "reference must be a zero-argument callable", {"reference": 1.0}),
        (ValueError, "latent_dim must be a positive int", {"latent_dim": 0}),
        (TypeError, "num_classes must be an int", {"num_classes": 2.0}),
        (ValueError, "num_classes must be at least 2", {"num_classes": 1}),
        (ValueError, "the generator failed on z of shape", {"latent_dim": 7}),
        (TypeError, "device must be None", {"device": 0}),
        (ValueError, "samples must be at least 1", {"samples": 0}),
        (ValueError, "seed must be at least 0", {"seed": -1}),
        (ValueError, "seed must be at most", {"seed": 2**64}),
    ]
    for error, message, overrides in cases:
        kwargs: dict[str, Any] = {"generator": g, "factory": BNGenerator, "latent_dim": LATENT}
        kwargs.update(overrides)
        with pytest.raises(error, match=message):
            assert_checkpoint_roundtrip(**kwargs)
    with pytest.raises(ValueError, match=r"latent_dim is needed.*does not tell the size of z"):
        assert_checkpoint_roundtrip(Opaque(), Opaque)
    with pytest.raises(ValueError, match="contradicts the run's spec"):
        assert_checkpoint_roundtrip(run, latent_dim=LATENT + 1)
    with pytest.raises(ValueError, match="factory must build a fresh generator"):
        assert_checkpoint_roundtrip(run, run.generator)
    # A one-hot label built in forward: nothing in the module tells the class count.
    with pytest.raises(ValueError, match=r"num_classes is needed.*no nn.Embedding"):
        assert_checkpoint_roundtrip(OneHotCondG(), OneHotCondG)


class Opaque(nn.Module):
    """A generator whose first layer (itself) tells nothing of z's size."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(LATENT, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.weight


class NoAttributeDCGAN(models.DCGANGenerator):
    """The zoo's DCGAN generator without its latent_dim attribute, as most public code
    writes it: only its first ConvTranspose2d knows the size of z."""

    def __init__(self) -> None:
        super().__init__(latent_dim=IMAGE_LATENT, width=16)
        del self.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z)  # z must be [B, C, 1, 1]
        return out


def test_a_bare_generators_latent_shape_is_inferred_from_its_first_layer() -> None:
    g = BNGenerator()
    assert not hasattr(g, "latent_dim")
    assert infer_latent_shape(g) == (LATENT,)
    conv = NoAttributeDCGAN()
    assert infer_latent_shape(conv) == (IMAGE_LATENT, 1, 1)
    with torch.no_grad():
        conv(torch.zeros(2, IMAGE_LATENT, 1, 1))  # the shape the contract's table names
    # The look changes neither buffers nor modes nor the RNG.
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    conv.train()
    rng = torch.get_rng_state()
    infer_latent_shape(conv)
    assert conv.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in conv.state_dict().items())


def test_the_contracts_own_call_on_a_bare_module_catches_a_fresh_model_checkpoint() -> None:
    # assert_checkpoint_roundtrip(generator, factory, save=..., load=...): a bare module,
    # no run, no latent_dim, exactly as the contract's table writes it.
    g = trained(BNGenerator())

    def save_fresh(module: nn.Module, path: Path) -> None:
        torch.save(BNGenerator().state_dict(), path)

    def load(path: Path) -> nn.Module:
        module = BNGenerator()
        module.load_state_dict(torch.load(path, weights_only=True))
        return module

    assert_checkpoint_roundtrip(g, BNGenerator, load=load)
    with pytest.raises(GANAssertionError) as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, save=save_fresh, load=load)
    assert caught.value.pitfall == "checkpoint-not-trained"


def test_a_file_that_is_no_checkpoint_is_left_to_the_load() -> None:
    g = trained(BNGenerator())

    def garbage(module: nn.Module, path: Path) -> None:
        path.write_bytes(b"not a checkpoint")

    with pytest.raises(GANAssertionError, match="could not be loaded back") as caught:
        assert_checkpoint_roundtrip(g, BNGenerator, save=garbage, latent_dim=LATENT)
    assert "globals" not in caught.value.evidence
    assert caught.value.evidence["stage"] == "load"


# Found by tests/test_fuzz_checks.py: a faithful round trip of a generator with an
# infinite output was a mismatch "by up to inf" (inf - inf is NaN).
def test_a_generator_with_infinite_outputs_round_trips() -> None:
    class Overflowing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(LATENT, 3)
            self.register_buffer("offset", torch.tensor([math.inf, -math.inf, 0.0]))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.linear(z) + self.offset
            return out

    assert_checkpoint_roundtrip(Overflowing(), Overflowing, latent_dim=LATENT)


class LazyGenerator(nn.Module):
    """A generator of lazy layers, whose parameters take their shapes (and values) from
    the first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LazyLinear(32), nn.LazyBatchNorm1d(), nn.ReLU(), nn.LazyLinear(2)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def test_a_generator_of_lazy_layers_round_trips_and_a_fresh_one_is_caught() -> None:
    # Its fresh instances have no values until a batch passes: before the dry run they
    # raised torch's "uninitialized parameter" ValueError on a legitimate run.
    run = train(tiny_spec(generator=LazyGenerator), steps=STEPS, instrument=False)
    assert_checkpoint_roundtrip(run)
    assert_checkpoint_roundtrip(run.generator, LazyGenerator, reference=LazyGenerator)

    def save_fresh(module: nn.Module, path: Path) -> None:
        # A fresh model, its layers initialised by an inference pass.
        fresh = LazyGenerator().eval()
        with torch.no_grad():
            fresh(torch.zeros(2, LATENT))
        torch.save(fresh.state_dict(), path)

    for call in (
        lambda: assert_checkpoint_roundtrip(run, save=save_fresh),
        lambda: assert_checkpoint_roundtrip(run.generator, LazyGenerator, save=save_fresh),
    ):
        with pytest.raises(GANAssertionError) as caught:
            call()
        assert caught.value.pitfall == "checkpoint-not-trained"


class OneHotCondG(nn.Module):
    """A conditional generator as most public cGANs write it: z joined with a one-hot
    label (or, with ``embedding``, a label embedding of that width, registered first)
    before its first Linear, so the layer's width is z's plus the label's; BatchNorm after
    it; no latent_dim attribute."""

    def __init__(self, embedding: int | None = None) -> None:
        super().__init__()
        self.embed = None if embedding is None else nn.Embedding(3, embedding)
        label = 3 if embedding is None else embedding
        self.net = nn.Sequential(
            nn.Linear(LATENT + label, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        label = F.one_hot(y, 3).to(z.dtype) if self.embed is None else self.embed(y)
        out: torch.Tensor = self.net(torch.cat([z, label], 1))
        return out


@pytest.mark.parametrize("embedding", [None, 5])
def test_a_conditional_generators_latent_shape_is_its_first_layer_less_the_label(
    embedding: int | None,
) -> None:
    g = trained(OneHotCondG(embedding), classes=3)
    assert infer_latent_shape(g, num_classes=3) == (LATENT,)
    factory = functools.partial(OneHotCondG, embedding)
    assert_checkpoint_roundtrip(g, factory, num_classes=3)

    def save_fresh(module: nn.Module, path: Path) -> None:
        torch.save(factory().state_dict(), path)

    # Loaded by the default route: factory() filled by load_state_dict.
    with pytest.raises(GANAssertionError) as caught:
        assert_checkpoint_roundtrip(g, factory, save=save_fresh, num_classes=3)
    assert caught.value.pitfall == "checkpoint-not-trained"
    # Unconditional, the same layer's whole width is all there is to try.
    with pytest.raises(ValueError, match=r"latent_dim is needed.*tried \(" + str(LATENT + 3)):
        infer_latent_shape(OneHotCondG(), num_classes=None)


def test_a_lazy_float64_generator_is_initialised_in_its_own_dtype() -> None:
    def factory() -> nn.Module:
        return nn.Sequential(
            nn.LazyLinear(16, dtype=torch.float64), nn.ReLU(), nn.Linear(16, 2).double()
        )

    g = factory()
    with torch.no_grad():
        g(torch.zeros(2, LATENT, dtype=torch.float64))
    assert_checkpoint_roundtrip(g, factory, latent_dim=LATENT)


class EmbeddedCondG(nn.Module):
    """A cGAN generator as eriklindernoren/PyTorch-GAN's cgan writes it: a label embedding
    of n_classes rows joined to z, BatchNorm after the first layer; no num_classes
    attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.label_emb = nn.Embedding(5, 5)
        self.net = nn.Sequential(
            nn.Linear(LATENT + 5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(torch.cat([z, self.label_emb(y)], 1))
        return out


def test_a_conditional_generators_class_count_is_read_from_its_embedding() -> None:
    # Called as the contract writes it, with no num_classes: a bare conditional generator
    # is checked, not refused (it raised "num_classes is needed" until 2026-12-07).
    factory = functools.partial(models.ConditionalDCGANGenerator, latent_dim=LATENT)
    cond = trained(factory(), classes=4)
    del cond.num_classes
    assert infer_num_classes(cond) == (4, "its label embedding, Embedding(num_embeddings=4)")
    assert_checkpoint_roundtrip(cond, factory)
    g = trained(EmbeddedCondG(), classes=5)
    assert infer_num_classes(g)[0] == 5
    assert_checkpoint_roundtrip(g, EmbeddedCondG)

    def save_fresh(module: nn.Module, path: Path) -> None:
        torch.save(EmbeddedCondG().state_dict(), path)

    with pytest.raises(GANAssertionError) as caught:
        assert_checkpoint_roundtrip(g, EmbeddedCondG, save=save_fresh)
    assert caught.value.pitfall == "checkpoint-not-trained"
    # An attribute says it first; one that is no class count is passed over.
    g.n_classes = 3
    assert infer_num_classes(g) == (3, "its attribute n_classes=3")
    g.n_classes = True
    assert infer_num_classes(g)[0] == 5


def test_an_unconditional_generators_embedding_is_its_first_layer() -> None:
    # Only a conditional generator's embedding is taken for its label's: unconditional,
    # the embedding is what the check finds first, and it says so.
    with pytest.raises(ValueError, match="its first layer is an Embedding"):
        infer_latent_shape(OneHotCondG(embedding=5), num_classes=None)
