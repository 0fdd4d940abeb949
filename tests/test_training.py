"""train(): every data form, every built-in loss, user steps, conditional GANs,
determinism and the caller's RNG state."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from fixtures.steps import UserStep
from pytest_gan import GANRun, TrainContext, assert_checkpoint_roundtrip, train
from pytest_gan.devices import resolve_device
from tests.tiny import (
    LATENT,
    CondD,
    CondG,
    gaussian,
    make_d,
    make_g,
    tiny_spec,
    two_clusters,
    verdicts,
)


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Szekely's energy distance: 0 exactly when the two distributions agree."""
    return float(2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean())


def distance_before_and_after(run: GANRun, n: int = 512) -> tuple[float, float]:
    torch.manual_seed(run.seed)
    initial = run.spec.make_generator().eval()
    with torch.no_grad():
        before = initial(torch.randn(n, *run.spec.latent_shape))
    real = run.real(n).cpu()
    return energy_distance(before, real), energy_distance(run.samples(n).cpu(), real)


# A distance to real data must at least halve: measured on these settings, the four losses
# end at 4-20% of their initial distance after 300 steps on every seed tried (0-4).
@pytest.mark.parametrize(
    ("loss", "kwargs"),
    [
        ("bce", {}),
        ("hinge", {}),
        ("lsgan", {}),
        ("wgan-gp", {"n_critic": 2}),
    ],
)
def test_every_builtin_loss_learns_the_data(loss: str, kwargs: dict[str, Any]) -> None:
    run = train(tiny_spec(loss=loss, **kwargs), steps=300, seed=1)
    before, after = distance_before_and_after(run)
    assert after < 0.5 * before, (loss, before, after)
    assert set(run.history.keys()) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    if loss == "wgan-gp":
        assert "gp_grad_norm" in run.history


class PairDataset(Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], 0


class DictDataset(Dataset[dict[str, Any]]):
    """Items as a Hugging Face dataset's ``with_format("torch")`` gives them: the sample
    under ``key``, its label (an int, or a 0-d tensor) under ``label``, and ``extra``
    columns besides."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        key: str = "image",
        tensor_labels: bool = False,
        **extra: Any,
    ) -> None:
        self.x, self.y, self.key, self.tensor_labels, self.extra = x, y, key, tensor_labels, extra

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {self.key: self.x[i], "id": i}
        if self.y is not None:
            item["label"] = self.y[i] if self.tensor_labels else int(self.y[i])
        item.update({k: (v(i) if callable(v) else v) for k, v in self.extra.items()})
        return item


class NumpyDataset(Dataset[Any]):
    """Items as a custom Dataset over arrays gives them: a float64 ndarray (numpy's default
    dtype), with an ``np.int64`` label, or under ``"image"`` in a dict (a Hugging Face
    dataset's ``with_format("numpy")``)."""

    def __init__(self, x: torch.Tensor, kind: str) -> None:
        self.x, self.kind = x.double().numpy(), kind

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        if self.kind == "pair":
            return self.x[i], np.int64(0)
        if self.kind == "dict":
            return {"image": self.x[i], "label": np.int64(0)}
        return self.x[i]


class StreamDataset(IterableDataset[torch.Tensor]):
    """A streaming dataset: its samples in its own order, once each."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __iter__(self) -> Any:
        return iter(self.x)


@pytest.mark.parametrize(
    "form",
    [
        "tensor",
        "float64-tensor",
        "numpy-array",
        "numpy-pair",
        "pair",
        "tensor-dataset",
        "numpy-dataset",
        "numpy-pair-dataset",
        "numpy-dict-dataset",
        "iterable-dataset",
        "pair-dataset",
        "dict-dataset",
        "loader",
        "loader-of-pairs",
        "loader-of-dicts",
    ],
)
def test_every_data_form_trains(form: str) -> None:
    x = gaussian(600)
    data: Any = {
        "tensor": x,
        "float64-tensor": x.double(),
        "numpy-array": x.double().numpy(),
        "numpy-pair": (x.double().numpy(), np.zeros(600, dtype=np.int64)),
        "pair": (x, torch.zeros(600, dtype=torch.long)),
        "tensor-dataset": TensorDataset(x),
        "numpy-dataset": NumpyDataset(x, "sample"),
        "numpy-pair-dataset": NumpyDataset(x, "pair"),
        "numpy-dict-dataset": NumpyDataset(x, "dict"),
        "iterable-dataset": StreamDataset(x),
        "pair-dataset": PairDataset(x),
        "dict-dataset": DictDataset(x),
        "loader": DataLoader(TensorDataset(x), batch_size=32, shuffle=True),
        "loader-of-pairs": DataLoader(PairDataset(x), batch_size=32, shuffle=True),
        "loader-of-dicts": DataLoader(
            DictDataset(x, key="pixel_values"), batch_size=32, shuffle=True
        ),
    }[form]
    seen: list[torch.Tensor] = []
    step = _recording(seen)

    run = train(tiny_spec(data=data, train_step=step), steps=4)
    # Four steps, then the two calls of the saturation probe (on copies of the networks).
    assert len(seen) == 4 + 2
    # Numpy items and arrays as Tensors, float64 samples in the networks' float32.
    assert all(isinstance(b, torch.Tensor) and b.shape[1:] == (2,) for b in seen)
    assert all(b.dtype == torch.float32 for b in seen)
    expected_batch = 32 if form.startswith("loader") else 64
    assert seen[0].shape[0] == expected_batch
    real = run.real(50)
    assert real.shape == (50, 2) and real.dtype == torch.float32
    # Every form yields samples of the data itself.
    assert torch.isin(real[:, 0].cpu(), x[:, 0]).all()
    if form == "iterable-dataset":
        # Batched in its own order, at the spec's batch size, as a loop's DataLoader would.
        assert torch.equal(seen[0], x[:64])
    lo, hi = run.data_range
    if form in ("tensor", "pair", "float64-tensor", "numpy-array", "numpy-pair"):
        assert (lo, hi) == (float(x.min()), float(x.max()))
    else:
        # Datasets and loaders are inspected, not scanned: the range seen lies within.
        assert float(x.min()) <= lo < hi <= float(x.max())


@pytest.mark.parametrize(
    ("loader", "tensor_labels"), [(False, False), (True, False), (False, True)]
)
def test_dict_items_carry_a_conditional_gan_s_labels(loader: bool, tensor_labels: bool) -> None:
    x, y = two_clusters()
    data: Any = DictDataset(x, y, tensor_labels=tensor_labels)
    if loader:
        data = DataLoader(data, batch_size=32, shuffle=True)
    got: list[Any] = []

    def step(ctx: TrainContext, batch: Any) -> dict[str, float]:
        got.append(batch)
        return {"d_loss": 0.0, "g_loss": 0.0}

    spec = tiny_spec(generator=CondG, discriminator=CondD, data=data, num_classes=2)
    run = train(replace(spec, train_step=step), steps=2)
    xb, yb = got[0]
    assert xb.shape[1:] == (2,) and yb.dtype == torch.long and xb.shape[0] == yb.shape[0]
    # Each label is the one its sample came with: cluster 0 lies left, cluster 1 right.
    assert ((xb[:, 0] > 0) == (yb == 1)).float().mean() > 0.95
    real, labels = run.real_with_labels(64)
    assert labels is not None and ((real[:, 0] > 0) == (labels == 1)).float().mean() > 0.95


def test_a_dict_item_s_floating_point_sample_is_taken_before_a_stored_one() -> None:
    """A pipeline that adds normalised ``pixel_values`` beside the stored ``image`` (8-bit,
    or not a tensor at all) trains on ``pixel_values``; a ``label`` that is no class label
    (pix2pix's target image) is no label."""
    x = gaussian(300)
    for extra in (
        {"image": lambda i: (x[i] * 0).to(torch.uint8)},
        {"image": "a PIL image", "label": lambda i: x[i] * 2},
    ):
        spec = tiny_spec(data=DictDataset(x, key="pixel_values", **extra))
        real, labels = spec.source.peek(8)
        assert torch.equal(real, x[:8]) and labels is None
        train(spec, steps=2)


def test_a_float64_gan_trains_under_torch_s_default_dtype() -> None:
    """Networks built in float64 (set_default_dtype, as scientific code does) get z, data
    and looks in float64: the same verdicts as the float32 GAN, not a dtype error."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        run = train(tiny_spec(data=gaussian(600).numpy()), steps=200)
        assert run.samples(8).dtype == torch.float64 and run.real(8).dtype == torch.float64
        assert set(verdicts(run).values()) == {"pass"}
    finally:
        torch.set_default_dtype(before)


def test_a_float64_gan_trains_under_a_float32_default_dtype() -> None:
    """Networks converted with .double() (torch's default dtype left at float32) get z in
    their own dtype, made from the same draws: a verdict, not an input error, and the
    same samples as the float32 GAN's to float32 precision."""
    assert torch.get_default_dtype() == torch.float32
    data = gaussian(600).double()
    run = train(
        tiny_spec(
            generator=lambda: make_g().double(),
            discriminator=lambda: make_d().double(),
            data=data,
        ),
        steps=200,
    )
    assert run.samples(8).dtype == torch.float64
    assert set(verdicts(run).values()) == {"pass"}
    single = train(tiny_spec(data=data.float()), steps=3)
    double = train(
        tiny_spec(
            generator=lambda: make_g().double(), discriminator=lambda: make_d().double(), data=data
        ),
        steps=3,
    )
    assert torch.allclose(single.samples(8).double(), double.samples(8), atol=1e-4)
    assert_checkpoint_roundtrip(run.generator, lambda: make_g().double())


class _InDtype(nn.Module):
    """A small MLP kept in ``dtype`` that converts its input to it, and its output to
    ``out`` when given."""

    def __init__(
        self, inputs: int, outputs: int, dtype: torch.dtype, out: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.dtype, self.out = dtype, out
        self.net = nn.Sequential(nn.Linear(inputs, 16), nn.ReLU(), nn.Linear(16, outputs)).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.net(x.to(self.dtype))
        return y if self.out is None else y.to(self.out)


def _recording(
    seen: list[torch.Tensor],
) -> Callable[[TrainContext, torch.Tensor], dict[str, float]]:
    """The reference user step, keeping every batch it is handed in ``seen``."""

    def step(ctx: TrainContext, batch: torch.Tensor) -> dict[str, float]:
        seen.append(batch)
        return UserStep()(ctx, batch)

    return step


@pytest.mark.parametrize(
    ("data_dtype", "d_dtype"),
    [
        (torch.float32, torch.float64),
        (torch.float32, torch.bfloat16),
        (torch.float64, torch.float32),
    ],
)
def test_samples_reach_the_discriminator_in_its_own_dtype(
    data_dtype: torch.dtype, d_dtype: torch.dtype
) -> None:
    # A generator in D's dtype that takes the float32 z the engine draws.
    g = None if d_dtype == torch.float32 else functools.partial(_InDtype, LATENT, 2, d_dtype)
    spec = tiny_spec(
        data=gaussian(600).to(data_dtype),
        discriminator=lambda: nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1)).to(
            d_dtype
        ),
        **({} if g is None else {"generator": g}),
    )
    seen: list[torch.Tensor] = []
    step = _recording(seen)

    run = train(replace(spec, train_step=step), steps=3)
    assert {b.dtype for b in seen} == {d_dtype}
    assert run.real(8).dtype == d_dtype
    # The choice is the run's: its spec's data, and the next run's, are as they were.
    assert run.source is not None and run.source is not run.spec.source
    assert run.spec.source.dtype is None and run.spec.source.peek(2)[0].dtype == data_dtype


def test_a_discriminator_that_converts_its_own_input_gets_the_samples_as_they_are() -> None:
    seen: list[torch.Tensor] = []
    step = _recording(seen)

    run = train(
        tiny_spec(
            discriminator=functools.partial(_InDtype, 2, 1, torch.bfloat16, torch.float32),
            train_step=step,
        ),
        steps=3,
    )
    assert {b.dtype for b in seen} == {torch.float32}
    assert run.real(8).dtype == torch.float32


def test_read_only_arrays_and_numpy_labels_are_read_without_a_warning() -> None:
    """A memory-mapped or Arrow-backed array is read-only (torch warns of such arrays, and
    this suite turns warnings into errors); labels may be numpy numbers or 0-d arrays."""
    x = gaussian(300).numpy()
    x.flags.writeable = False
    for label in (np.int64(1), np.array(1)):

        class Items(Dataset[Any]):
            def __len__(self) -> int:
                return len(x)

            def __getitem__(self, i: int, label: Any = label) -> Any:
                return x[i], label

        spec = tiny_spec(generator=CondG, discriminator=CondD, data=Items(), num_classes=2)
        real, labels = spec.source.peek(4)
        assert torch.equal(real, torch.from_numpy(x[:4].copy()))
        assert labels is not None and labels.tolist() == [1, 1, 1, 1]
    tiny_spec(data=x)


def test_a_streaming_dataset_and_a_loaders_real_samples_leave_the_callers_rng_alone() -> None:
    # Iterating a DataLoader draws its workers' seed from torch's global RNG.
    torch.manual_seed(7)
    before = torch.get_rng_state()
    spec = tiny_spec(data=StreamDataset(gaussian(600)))
    run = train(spec, steps=2)
    run.real(8)
    shuffled = DataLoader(TensorDataset(gaussian(600)), batch_size=32, shuffle=True)
    loader = train(tiny_spec(data=shuffled), steps=2)
    first = loader.real(8)
    assert torch.equal(torch.get_rng_state(), before)
    # A shuffled loader's samples come from the run's seed, not from the caller's RNG.
    torch.manual_seed(8)
    assert torch.equal(loader.real(8), first) and not torch.equal(loader.real(8, seed=1), first)


def test_dict_items_without_a_sample_key_are_refused_naming_their_keys() -> None:
    with pytest.raises(TypeError, match=r"keys \['id', 'picture'\].*image, images, img"):
        tiny_spec(data=DictDataset(gaussian(100), key="picture"))


def test_a_dataloader_run_is_reproducible() -> None:
    spec = tiny_spec(data=DataLoader(TensorDataset(gaussian(600)), batch_size=32, shuffle=True))
    a, b = train(spec, steps=20, seed=3), train(spec, steps=20, seed=3)
    assert a.history["d_loss"] == b.history["d_loss"]


def test_the_holdout_is_kept_out_of_training() -> None:
    x = torch.arange(1024.0).unsqueeze(1).repeat(1, 2)
    seen: set[float] = set()

    def step(ctx: TrainContext, batch: torch.Tensor) -> dict[str, float]:
        seen.update(batch[:, 0].tolist())
        return UserStep()(ctx, batch)

    run = train(tiny_spec(data=x, train_step=step), steps=30)
    holdout = set(x[run._holdout_indices, 0].tolist())
    assert len(holdout) == 256
    assert seen and not seen & holdout
    assert all(p["held_out"] for p in run.history.probes)


def test_a_user_step_is_run_and_its_losses_recorded() -> None:
    calls: list[int] = []

    def step(ctx: TrainContext, batch: torch.Tensor) -> dict[str, Any]:
        calls.append(ctx.step)
        assert ctx.batch_size == 64 and ctx.device == resolve_device(None)
        assert ctx.latent(5).shape == (5, 4)
        return {**UserStep()(ctx, batch), "extra": 1.0}

    run = train(tiny_spec(train_step=step), steps=6)
    # The saturation probe runs the step twice more, on copies, with ctx.step == steps.
    assert calls == [*range(6), 6, 6]
    assert len(run.history["extra"]) == 6 and set(run.history["extra"]) == {1.0}
    assert all(np.isfinite(run.history["g_loss"]))


def test_the_conditional_path_learns_each_class() -> None:
    x, y = two_clusters()
    spec = tiny_spec(generator=CondG, discriminator=CondD, data=(x, y), num_classes=2)
    run = train(spec, steps=400, seed=0)
    left, right = run.samples(256, labels=0), run.samples(256, labels=1)
    assert left[:, 0].mean() < -1.0 < 1.0 < right[:, 0].mean()
    both = run.samples(10)
    assert both.shape == (10, 2)
    with pytest.raises(ValueError, match="labels"):
        run.samples(4, labels=2)
    with pytest.raises(ValueError, match="labels"):
        run.samples(4, labels=torch.zeros(3, dtype=torch.long))


def test_a_conditional_user_step_gets_labels() -> None:
    x, y = two_clusters()
    got: list[Any] = []

    def step(ctx: TrainContext, batch: Any) -> dict[str, float]:
        got.append(batch)
        assert ctx.labels(7).shape == (7,) and int(ctx.labels(100).max()) <= 1
        return {"d_loss": 0.0, "g_loss": 0.0}

    train(
        tiny_spec(
            generator=CondG, discriminator=CondD, data=(x, y), num_classes=2, train_step=step
        ),
        steps=2,
    )
    xb, yb = got[0]
    assert xb.shape == (64, 2) and yb.shape == (64,) and yb.dtype == torch.long


class BNDropG(nn.Module):
    """BatchNorm and dropout: buffers and RNG draws that a careless probe would disturb."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class BNDropD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, 32),
            nn.BatchNorm1d(32),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.3),
            nn.Linear(32, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("step", [None, UserStep()])
def test_instrumentation_changes_nothing_the_step_computes(step: Any) -> None:
    spec = tiny_spec(generator=BNDropG, discriminator=BNDropD, train_step=step)
    with_hooks = train(spec, steps=40, seed=5)
    without = train(spec, steps=40, seed=5, instrument=False)
    assert with_hooks.history["d_loss"] == without.history["d_loss"]
    assert len(with_hooks.history.probes) > 10 and not without.history.probes
    for a, b in (
        (with_hooks.generator, without.generator),
        (with_hooks.discriminator, without.discriminator),
    ):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), name


def test_the_same_seed_gives_the_same_run_bit_for_bit() -> None:
    spec = tiny_spec(generator=BNDropG, discriminator=BNDropD)
    a, b, c = (train(spec, steps=30, seed=s) for s in (7, 7, 8))
    assert a.history["g_loss"] == b.history["g_loss"] != c.history["g_loss"]
    assert all(
        torch.equal(x, y)
        for x, y in zip(
            a.generator.state_dict().values(), b.generator.state_dict().values(), strict=True
        )
    )
    assert torch.equal(a.samples(16), b.samples(16))
    assert torch.equal(a.real(16), b.real(16))


def test_user_noise_from_numpy_and_random_is_reproducible() -> None:
    def step(ctx: TrainContext, batch: torch.Tensor) -> dict[str, float]:
        jitter = float(np.random.normal()) + random.random()
        out = dict(UserStep()(ctx, batch + 0.01 * jitter))
        out["jitter"] = jitter
        return out

    spec = tiny_spec(train_step=step)
    a, b = train(spec, steps=10, seed=2), train(spec, steps=10, seed=2)
    assert a.history["jitter"] == b.history["jitter"]
    assert len(set(a.history["jitter"])) == 10


def _global_states() -> tuple[Any, ...]:
    return torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate()


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return torch.equal(a[0], b[0]) and bool((a[1] == b[1]).all()) and a[2] == b[2]


def test_the_callers_rng_states_are_restored() -> None:
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = _global_states()
    run = train(tiny_spec(generator=BNDropG, discriminator=BNDropD), steps=5, seed=9)
    assert _same(before, _global_states())
    run.samples(8, mode="train")
    run.samples(8)
    run.real(8)
    assert _same(before, _global_states())


def test_the_callers_rng_states_are_restored_when_the_step_raises() -> None:
    def step(ctx: TrainContext, batch: torch.Tensor) -> dict[str, float]:
        torch.randn(100)
        np.random.normal()
        raise RuntimeError("no")

    before = _global_states()
    with pytest.raises(RuntimeError, match="no"):
        train(tiny_spec(train_step=step), steps=3)
    assert _same(before, _global_states())


def test_samples_leave_the_generator_as_it_was() -> None:
    run = train(tiny_spec(generator=BNDropG, discriminator=BNDropD), steps=5)
    state = {k: v.clone() for k, v in run.generator.state_dict().items()}
    assert run.generator.training
    train_mode = run.samples(100, mode="train")
    assert run.generator.training
    assert all(torch.equal(v, run.generator.state_dict()[k]) for k, v in state.items())
    assert train_mode.shape == (100, 2) and not train_mode.requires_grad
    assert not torch.equal(run.samples(100, seed=1), run.samples(100, seed=2))
    with pytest.raises(ValueError, match="mode"):
        run.samples(4, mode="inference")
    with pytest.raises(ValueError, match="n must be at most"):
        run.real(10_000)


def test_a_plain_draw_is_reused_until_the_generator_changes() -> None:
    run = train(tiny_spec(generator=BNDropG, discriminator=BNDropD), steps=5)
    calls = 0

    def count(*_: Any) -> None:
        nonlocal calls
        calls += 1

    def drawn(n: int, **kwargs: Any) -> tuple[torch.Tensor, int]:
        before = calls
        out = run.samples(n, **kwargs)
        return out, calls - before

    run.generator.register_forward_hook(count)
    first, forwards = drawn(64)
    assert forwards == 1
    kept = first.clone()
    first.add_(1.0)  # a caller's in-place change reaches no later draw
    for kwargs in ({"latent_scale": 3.0}, {"seed": 5}, {"initial": True}):
        assert not torch.equal(drawn(64, **kwargs)[0], kept)
    again, forwards = drawn(64)  # the draws in between left G's tensors untouched
    assert forwards == 0 and torch.equal(again, kept)
    drawn(64, mode="train")  # BatchNorm's statistics moved, then were written back
    redrawn, forwards = drawn(64)
    assert forwards == 1 and torch.equal(redrawn, again)
    assert drawn(32)[1] == 1  # another n is drawn anew
    assert drawn(32)[1] == 0
    with torch.no_grad():
        next(run.generator.parameters()).mul_(2.0)  # G changed in place
    changed, forwards = drawn(32)
    assert forwards == 1 and not torch.equal(changed, again[:32])
    run.generator.load_state_dict(
        {k: torch.zeros_like(v) for k, v in run.generator.state_dict().items()}
    )
    assert drawn(32)[1] == 1
    run.generator = BNDropG()  # replaced by another module
    run.generator.register_forward_hook(count)
    assert drawn(32)[1] == 1


def test_a_module_instance_is_copied_so_runs_repeat() -> None:
    spec = tiny_spec(generator=BNDropG(), discriminator=BNDropD())
    a, b = train(spec, steps=10), train(spec, steps=10)
    assert a.history["g_loss"] == b.history["g_loss"]
    assert a.generator is not spec.generator


def test_the_gradient_penalty_works_in_the_data_s_own_dtype() -> None:
    spec = tiny_spec(
        generator=functools.partial(_InDtype, LATENT, 2, torch.bfloat16),
        discriminator=lambda: nn.Sequential(
            nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1)
        ).bfloat16(),
        data=gaussian().bfloat16(),
        loss="wgan-gp",
    )

    run = train(spec, steps=3)

    penalties = run.history.columns["gp"]
    assert len(penalties) == 3
    assert all(math.isfinite(v) for v in penalties)


def _numpy_losses(kind: str) -> Any:
    """A user step that hands its losses back as numpy numbers, as older public code does
    (``errD.data.cpu().numpy()``, ``np.float32(loss.item())``)."""
    step = UserStep()

    def numpy_step(ctx: TrainContext, batch: torch.Tensor) -> dict[str, Any]:
        out = step(ctx, batch)
        if kind == "array":
            return {k: v.detach().cpu().numpy() for k, v in out.items()}
        return {k: np.float32(v.item()) for k, v in out.items()}

    return numpy_step


@pytest.mark.parametrize("kind", ["array", "scalar"])
def test_losses_returned_as_numpy_numbers_are_recorded(kind: str) -> None:
    as_tensors = train(tiny_spec(train_step=UserStep()), steps=6)
    as_numpy = train(tiny_spec(train_step=_numpy_losses(kind)), steps=6)
    for key in ("d_loss", "g_loss"):
        assert as_numpy.history[key] == pytest.approx(as_tensors.history[key], rel=1e-6)
    assert as_numpy.history.saturation is not None
    assert "error" not in as_numpy.history.saturation.real


def _compiled_graphs(spec_kwargs: dict[str, Any], instrument: bool) -> tuple[GANRun, int]:
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    run = train(tiny_spec(**spec_kwargs), steps=30, instrument=instrument)
    if instrument:
        verdicts(run)
    return run, int(counters["stats"]["unique_graphs"])


# torch.compile's own tracing reads .grad of non-leaf tensors, watched or not.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@pytest.mark.skipif(
    not hasattr(torch.compiler, "set_stance"), reason="torch.compiler.set_stance: torch 2.6+"
)
def test_a_compiled_gan_is_compiled_for_its_training_only() -> None:
    """The probes, the saturation probe and the checks run a compiled G and D eagerly: the
    instrumented run and its checks compile no graph its bare training does not, where the
    looks' hooks and traced tensors made dynamo compile more graphs (and warn of its
    recompile limit). The same computation: losses and verdicts equal the uncompiled
    spec's."""
    compiled = {
        "generator": lambda: torch.compile(
            nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2)), backend="eager"
        ),
        "discriminator": lambda: torch.compile(
            nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1)), backend="eager"
        ),
    }
    _, bare_graphs = _compiled_graphs(compiled, instrument=False)
    run, graphs = _compiled_graphs(compiled, instrument=True)
    assert bare_graphs > 0
    assert graphs == bare_graphs
    plain = train(tiny_spec(), steps=30)
    assert run.history["d_loss"] == pytest.approx(plain.history["d_loss"], abs=1e-6)
    assert verdicts(run) == verdicts(plain)


def test_a_look_where_dynamo_refuses_a_change_of_stance_runs_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where dynamo is active without tracing (a hook run from a compiled optimizer step),
    ``set_stance`` raises: the look runs as it did before, and still leaves gradients on
    and the RNG and buffers as they were."""
    # eager() acts only once dynamo is imported.
    import torch._dynamo

    from pytest_gan.probing import preserved_state

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("attempted to set_stance in a torch.compile region")

    monkeypatch.setattr(torch.compiler, "set_stance", refuse)
    g = BNDropG()
    state = torch.get_rng_state()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    with preserved_state(g):
        assert not torch.is_grad_enabled()
        g(torch.randn(8, 4))
    assert torch.is_grad_enabled()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(v, before[k]) for k, v in g.state_dict().items())


class TupleG(nn.Module):
    """A generator returning ``(samples, latents)``, as StyleGAN2 implementations return
    ``(image, latents)`` (``(image, None)`` unless asked for the latents)."""

    def __init__(self, second: str = "latents") -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
        self.second = second

    def forward(self, z: torch.Tensor) -> Any:
        out = self.net(z)
        if self.second == "plain":
            return out
        if self.second == "dict":
            return {"image": out}
        return out, (z if self.second == "latents" else None)


@pytest.mark.parametrize("second", ["latents", "none"])
def test_a_generator_returning_a_tuple_is_read_by_its_first_element(second: str) -> None:
    """Its samples are the first element everywhere the engine and the checks run G: the
    built-in step, the probes, the checks' draws, the checkpoint round trip; the run and
    its verdicts are the same GAN's returning the samples alone."""
    spec = tiny_spec(generator=lambda: TupleG(second))
    run = train(spec, steps=60, seed=0)
    plain = train(tiny_spec(generator=lambda: TupleG("plain")), steps=60, seed=0)
    assert run.history["g_loss"] == plain.history["g_loss"]
    assert [p.fake_to_real for p in run.history.probes] == [
        p.fake_to_real for p in plain.history.probes
    ]
    assert torch.equal(run.samples(32), plain.samples(32))
    got = verdicts(run)
    assert got == verdicts(plain)
    assert {"checkpoint-roundtrip", "diverse", "output-range"} <= set(got)
    # A bare module too: its latent shape inferred from its first layer.
    assert_checkpoint_roundtrip(run.generator, lambda: TupleG(second))


def test_a_generator_returning_no_tensor_in_front_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"generator .*must return a Tensor of samples, or a tuple"):
        train(tiny_spec(generator=lambda: TupleG("dict")), steps=1)
