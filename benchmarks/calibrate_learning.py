"""Calibration of the learning check: how much closer to the data training brought the
generator, healthy references against the twins that do not learn.

    python benchmarks/calibrate_learning.py [--seeds 5] [--steps 200] [--samples 512] NAME...

Prints, per case and seed: the relative movement of the generator's parameters from their
initial values, ||theta_T - theta_0|| / ||theta_0||; and, for comparison, the energy
distance to real data of the final generator over that of the initial one (same z, batch
statistics), which at 200 steps does not separate slow healthy references from a
generator that barely learns.

Besides the zoo's cases, ``outside:`` names a GAN written here as a team would, outside the
zoo: ``outside:blob-mlp-bn`` (MLPs on a 2-D Gaussian blob near the origin, D with
BatchNorm, the spec's default optimizers: a generator that starts near the data and has
little to learn), ``outside:blob-mlp`` (the same D without BatchNorm), and
``outside:blob-mlp-bn~slow-g`` (its generator's learning rate 100x too small), and
``outside:blob-mlp-bn~g-lr=X`` (its generator at learning rate X), and
``outside:blob-res-small-init`` (the same data and D, a residual MLP generator whose
blocks start at 1/100 of PyTorch's default initialisation). ``outside1:NAME``,
``outside2:NAME`` and ``outside3:NAME`` are the GANs of ``benchmarks/trial_outside_zoo.py``,
``_2`` and ``_3``; ``wild:GAN[:MUTATION]`` a wild GAN (healthy without a mutation); and
``NAME~g-lr/K`` (any of these) the same GAN with its generator's learning rate divided
by K (every parameter group of opt_g), ``NAME~lr/K`` with both networks' divided by K.

Each row also gives the median over G's weight tensors of 2+ dimensions of each one's
relative movement (``metrics.median_tensor_movement``), the figure that speaks for a
generator whose few largest tensors barely move by design (StyleGAN's mapping network
with an equalised learning rate and ``lr_mul`` 0.01), the same median against each
tensor's own initial norm alone (the figure before the floor of the default
initialisation's norm, which a G started small fools), and G's pace over D's (the medians
over the run of each one's relative update per step, ``checks.balance.paces``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
from dataclasses import replace

import torch

import wild
from fixtures.zoo import case
from pytest_gan import GANSpec, train
from pytest_gan.checks.balance import paces
from pytest_gan.metrics import energy_distance, median_tensor_movement, parameter_movement
from pytest_gan.training import default_optimizers
from tests.tiny import SmallInitResidualG, blob_spec


def movements(run: object) -> tuple[float, float, float]:
    """The generator's relative movement: whole, by its median weight tensor, and by its
    median weight tensor measured against each tensor's own initial norm alone (without
    the floor of the default initialisation's norm that the check's figure has)."""
    names = [n for n, _ in run.generator.named_parameters()]  # type: ignore[attr-defined]
    before, after = run.initial_generator_state, run.generator.state_dict()  # type: ignore[attr-defined]
    own = [
        float((after[k].double() - before[k].double()).norm() / before[k].double().norm())
        for k in names
        if before[k].dim() >= 2 and float(before[k].norm()) > 0
    ]
    return (
        parameter_movement(before, after, names),
        median_tensor_movement(before, after, names),
        statistics.median(own) if own else float("nan"),
    )


def slower(spec: GANSpec, factor: float, both: bool = False) -> GANSpec:
    """``spec`` with every learning rate of its generator's optimizer (and, with ``both``,
    its discriminator's) divided by ``factor``."""
    make = spec.optimizers or default_optimizers

    def optimizers(g: torch.nn.Module, d: torch.nn.Module) -> object:
        made = make(g, d)  # type: ignore[misc]
        for opt in {id(o): o for o in (made if both else made[:1])}.values():  # type: ignore[index]
            for group in opt.param_groups:
                group["lr"] /= factor
        return made

    tag = "lr" if both else "g-lr"
    return replace(spec, optimizers=optimizers, name=f"{spec.name}~{tag}/{factor:g}")


def spec_of(name: str) -> GANSpec:
    for tag in ("~g-lr/", "~lr/"):
        if tag in name:
            base, factor = name.rsplit(tag, 1)
            return slower(spec_of(base), float(factor), both=tag == "~lr/")
    source = name.split(":", 1)[0]
    if source in ("outside1", "outside2", "outside3"):
        module = {"outside1": "", "outside2": "_2", "outside3": "_3"}[source]
        trials = importlib.import_module(f"benchmarks.trial_outside_zoo{module}").TRIALS
        return trials[name.split(":", 1)[1]][0]()
    if source == "wild":
        _, gan, *mutation = name.split(":")
        return wild.gan(gan).spec(mutation[0] if mutation else None)
    if name.startswith("outside:blob-res-small-init"):
        # A residual MLP generator whose blocks start at 1/100 of PyTorch's default
        # initialisation: most of its weight tensors start small.
        lr_g = float(name.split("~g-lr=")[1]) if "~g-lr=" in name else None
        spec = blob_spec(batch_norm=True, lr_g=lr_g)
        return replace(spec, generator=SmallInitResidualG, name=name.removeprefix("outside:"))
    if name.startswith("outside:"):
        name = name.removeprefix("outside:")
        lr_g = float(name.split("~g-lr=")[1]) if "~g-lr=" in name else None
        bn = name.startswith("blob-mlp-bn")
        spec = blob_spec(batch_norm=bn, slow_g=name.endswith("~slow-g"), lr_g=lr_g)
        return replace(spec, name=name)
    return case(name).spec()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        spec = spec_of(name)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            run = train(spec, steps=args.steps, seed=seed)
            movement, median_movement, median_own = movements(run)
            d_pace, g_pace, _ = paces(run)
            real = run.real(args.samples)
            final = energy_distance(run.samples(args.samples, mode="train"), real)
            initial = energy_distance(run.samples(args.samples, mode="train", initial=True), real)
            row = {
                "case": name,
                "seed": seed,
                "steps": args.steps,
                "kernels": torch.backends.cpu.get_cpu_capability(),
                "movement": movement,
                "median_tensor_movement": median_movement,
                "median_tensor_movement_own_norm": median_own,
                "distance_ratio": final / initial,
                "g_over_d_pace": g_pace / d_pace if d_pace > 0 else float("nan"),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
