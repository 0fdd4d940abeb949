"""Calibration of the conditioning check: can a generator's samples be told apart by
label, healthy conditional reference against the twin whose labels do not reach G.

    python benchmarks/calibrate_conditioning.py [--seeds 10] [--steps 200] [--json FILE] NAME...

NAME is a zoo case (``shapes-cgan``, ``shapes-cgan~conditioning-ignored``) or a wild GAN,
``wild:GAN`` or ``wild:GAN:MUTATION`` (``wild:eriklindernoren-cgan:labels-decoupled``).

Prints, per case and seed, the figures assert_conditioning_effective decides on: the
held-out accuracy of a nearest-class-centroid classifier fitted on generated samples (the
same z under every label), its binomial p-value against chance, and the share of the
samples' variance that changes with the label for a fixed z; and, for comparison, the same
classifier fitted on real labelled data, on held-out real data and on the generated
samples; and whether D itself tells matched labels from mismatched ones: the share of
generated samples D scores higher under their own label than under another label, and the
same share for real samples (``d_prefers_own_label_fake`` / ``_real``; 0.5: D's score
does not depend on the label). ``--json`` writes every row to FILE as well.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import wild
from fixtures.zoo import case
from pytest_gan import GANRun, train
from pytest_gan.checks.conditioning import (
    CONDITIONING_SAMPLES,
    label_separability,
    real_class_accuracies,
    samples_by_label,
)
from pytest_gan.probing import preserved_state


def d_prefers_own_label(run: GANRun, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of ``x`` that the run's D scores higher under its own label ``y`` than
    under another label (drawn at random from the others, fixed seed); ties count half."""
    k = run.spec.num_classes
    assert k is not None
    gen = torch.Generator().manual_seed(0)
    other = (y.cpu() + torch.randint(1, k, y.shape, generator=gen)) % k
    d = run.discriminator
    with preserved_state(d):
        own = d(x, y).reshape(x.shape[0], -1).mean(1)
        off = d(x, other.to(y.device)).reshape(x.shape[0], -1).mean(1)
    return float(((own > off).double() + 0.5 * (own == off).double()).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=CONDITIONING_SAMPLES)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.names:
        if name.startswith("wild:"):
            gan, _, mutation = name.removeprefix("wild:").partition(":")
            spec = wild.gan(gan).spec(mutation or None)
            mistake = mutation
        else:
            c = case(name)
            spec, mistake = c.spec(), c.mistake
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            started = time.perf_counter()
            run = train(spec, steps=args.steps, seed=seed)
            generated = samples_by_label(run, args.samples)
            result = label_separability(generated)
            real_acc, fake_acc = real_class_accuracies(run, args.samples, generated)
            k, m = generated.shape[:2]
            fake_x = generated.reshape(k * m, *generated.shape[2:])
            fake_y = torch.arange(k, device=fake_x.device).repeat_interleave(m)
            real_x, real_y = run.real_with_labels(args.samples)
            assert real_y is not None
            row = {
                "case": name,
                "mistake": mistake,
                "seed": seed,
                "steps": args.steps,
                "accuracy": result.accuracy,
                "chance": result.chance,
                "trials": result.trials,
                "p_value": result.p_value,
                "label_share": result.label_share,
                "real_accuracy": real_acc,
                "fake_accuracy_by_real_classes": fake_acc,
                "d_prefers_own_label_fake": d_prefers_own_label(run, fake_x, fake_y),
                "d_prefers_own_label_real": d_prefers_own_label(run, real_x, real_y),
                "seconds": time.perf_counter() - started,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
