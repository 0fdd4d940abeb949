"""Calibration of the checkpoint check: how far a reloaded generator's outputs lie from the
trained one's, for faithful round trips and for the broken twins.

    python benchmarks/calibrate_checkpoint.py [--seeds 10] [--steps 20] [NAME ...]

Prints one JSON line per case and seed with the relative output difference
max |G_reloaded(z) - G_trained(z)| / max |G_trained(z)| (eval mode, the check's z) of:

* ``same_device``: the state-dict route into a fresh instance on the run's device;
* ``cpu_copy``: the same, reloaded on the CPU while the run trained on CUDA (the widest
  numerical gap a faithful round trip meets; only where CUDA is available);
* for shapes-dcgan, each checkpoint twin's save and load.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from fixtures.zoo import BROKEN, case
from pytest_gan import train
from pytest_gan.checks.checkpoint import SAMPLES
from pytest_gan.run import GANRun

DEFAULT = ("shapes-dcgan", "shapes-cgan", "scenes-dcgan", "ring-mlp", "shapes-hinge-sn")


def outputs(run: GANRun, module: nn.Module) -> torch.Tensor:
    device = next(module.parameters()).device
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(SAMPLES, *run.spec.latent_shape, generator=gen).to(device)
    inputs = [z]
    if run.spec.num_classes is not None:
        inputs.append((torch.arange(SAMPLES) % run.spec.num_classes).to(device))
    modes = module.training
    module.eval()
    with torch.no_grad():
        out: torch.Tensor = module(*inputs)
    module.train(modes)
    return out.double().cpu()


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


def reload(
    run: GANRun,
    save: Callable[[nn.Module, Path], None],
    load: Callable[[Path], nn.Module],
) -> nn.Module:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generator.pt"
        save(run.generator, path)
        return load(path)


def state_dict_route(run: GANRun, device: torch.device) -> nn.Module:
    def load(path: Path) -> nn.Module:
        module = run.spec.make_generator().to(device)
        module.load_state_dict(torch.load(path, weights_only=True, map_location=device))
        return module

    return reload(run, lambda m, p: torch.save(m.state_dict(), p), load)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names or DEFAULT:
        for seed in range(args.seeds):
            run = train(case(name).spec(), steps=args.steps, seed=seed, instrument=False)
            trained = outputs(run, run.generator)
            row: dict[str, object] = {"case": name, "seed": seed, "device": str(run.device)}
            row["same_device"] = relative(trained, outputs(run, state_dict_route(run, run.device)))
            if run.device.type == "cuda":
                copy = state_dict_route(run, torch.device("cpu"))
                row["cpu_copy"] = relative(trained, outputs(run, copy))
            if name == "shapes-dcgan":
                for pitfall in ("checkpoint-roundtrip-mismatch", "checkpoint-not-trained"):
                    twin = BROKEN[pitfall].spec()
                    save, load = twin.save_checkpoint, twin.load_checkpoint
                    assert save is not None and load is not None
                    module = reload(run, save, load).to(run.device)
                    row[pitfall] = relative(trained, outputs(run, module))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
