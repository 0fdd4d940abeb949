"""The checkpoint check: does a saved and reloaded generator reproduce the trained one?

The round trip runs the way inference code would: ``save(generator, path)`` into a
temporary folder, ``load(path)`` back, then the trained and the reloaded generator, both in
eval mode, get the same fixed z. Their state dicts are compared too, buffers included
(BatchNorm running statistics, spectral-norm u and v vectors), since a buffer can be lost
without changing the outputs of every z.

When the round trip fails, the check reads the checkpoint file itself, always with
``torch.load(weights_only=True)``, to tell a save that wrote the wrong thing from a load
that read it wrongly: keys missing from the file, ``module.`` prefixes, a non-strict load
that hid them, a module left on another device, or a file that holds an initialisation
rather than the trained weights (pitfall ``checkpoint-not-trained``). A file that only an
unsafe unpickling could read is refused before any load runs. Those diagnoses live in
``pytest_gan.checks._checkpoint_diagnosis``; this module runs the round trip and raises.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan._args import check_int, check_seed
from pytest_gan.checks._check import Check
from pytest_gan.checks._checkpoint_diagnosis import (
    Context,
    Init,
    find_inits,
    judge_exact_init,
    judge_never_trained,
    names,
    prefixed,
    untrained_verdict,
)
from pytest_gan.checks._checkpoint_file import (
    CHECKPOINT_NAME,
    LoadFn,
    SaveFn,
    cpu_state,
    default_load,
    default_save,
    parameter_keys,
    read_checkpoint,
    same_tensor,
    unsafe_globals,
)
from pytest_gan.checks._subject import (
    Subject,
    as_factory,
    device_of,
    forward,
    latents,
    materializing,
    output_gap,
    resolve_subject,
    trained_outputs,
)
from pytest_gan.errors import GANAssertionError, fail
from pytest_gan.rng import RNGState
from pytest_gan.run import GANRun
from pytest_gan.spec import ModuleFactory

#: Latent vectors each generator is given. Any single z whose output changes shows a
#: broken round trip, and every lost buffer of the zoo's generators changes all of them;
#: 16 keep the comparison cheap for large generators.
SAMPLES = 16


#: Largest relative output difference, max |G_reloaded(z) - G_trained(z)| / max |G_trained(z)|,
#: of a faithful round trip.
#: Why here: 28x above the widest faithful gap (3.6e-4, a CUDA copy reloaded on the CPU)
#: and 94x below the closest broken one (0.94); calibration: docs/benchmarks.md
#: "Calibration notes".
OUTPUT_RTOL = 1e-2


def assert_checkpoint_roundtrip(
    generator: nn.Module | GANRun,
    factory: ModuleFactory | nn.Module | None = None,
    *,
    save: SaveFn | None = None,
    load: LoadFn | None = None,
    reference: ModuleFactory | nn.Module | None = None,
    latent_dim: int | tuple[int, ...] | None = None,
    num_classes: int | None = None,
    device: str | torch.device | None = None,
    samples: int = SAMPLES,
    seed: int = _defaults.SEED,
) -> None:
    """Saving ``generator`` and loading it back gives the same generator: the same state
    dict (buffers included) and, in eval mode, the same output for the same z.

    ``generator`` is the trained module, or a ``GANRun`` (its generator, its spec's latent
    shape and classes, its spec's generator factory as ``factory``, and its generator's
    initial state as an implicit ``reference``). ``factory`` builds a fresh generator
    (a zero-argument callable, or a module that is deep-copied); it is needed by the
    default load, and its fresh instances tell initial values from trained ones.
    ``save(module, path)`` defaults to the spec's ``save_checkpoint`` for a run, else
    ``torch.save(module.state_dict(), path)``; ``load(path) -> module`` to the spec's
    ``load_checkpoint``, else ``factory()`` on ``device`` filled by
    ``load_state_dict(torch.load(path, weights_only=True, map_location=device),
    strict=True)``. ``reference`` is a freshly initialised generator (or its factory): a
    checkpoint equal to it, or nearer to its outputs than to the trained generator's, holds
    an initialisation. A bare generator whose round trip is exact fails too when every
    tensor that the factory's instances set to zeros or ones and that a training step
    moves (a normalisation's weight and bias, BatchNorm's statistics), among them a
    parameter it trains, still holds that value: it never took a step
    (``_checkpoint_diagnosis.judge_never_trained``). ``latent_dim``
    (the shape of one z) and ``num_classes`` (for ``G(z, y)``) default to the run's spec,
    else to the generator's attributes of those names; a bare generator's latent shape is
    otherwise inferred from its first layer (``infer_latent_shape``), and ``latent_dim=``
    is asked for only when that fails.
    ``device`` is where the reloaded generator is expected (default: the trained
    generator's device). ``samples`` z are drawn from ``seed``.

    A checkpoint that ``torch.load(weights_only=True)`` refuses (a whole pickled module,
    custom classes) is never loaded: the check fails saying so. Global RNG states and the
    generator's train/eval modes and buffers are left as they were. Raises
    ``GANAssertionError`` with pitfall ``checkpoint-not-trained`` when the checkpoint holds
    an initialisation, else ``checkpoint-roundtrip-mismatch`` naming what it found.
    """
    __tracebackhide__ = True
    if isinstance(generator, GANRun):
        # The spec's own checkpoint code, unless this call names other code.
        save = generator.spec.save_checkpoint if save is None else save
        load = generator.spec.load_checkpoint if load is None else load
    subject = resolve_subject(generator, factory, load, latent_dim, num_classes, device)
    if save is not None and not callable(save):
        raise TypeError(f"save must be a callable (module, path); got {type(save).__name__}")
    if load is not None and not callable(load):
        raise TypeError(f"load must be a callable path -> module; got {type(load).__name__}")
    reference_factory = materializing(
        as_factory(reference, "reference"), subject.latent_shape, subject.num_classes
    )
    check_int(samples, "samples")
    check_seed(seed)
    if load is None:
        assert subject.factory is not None
        load = default_load(subject.factory, subject.device)
    modes = [(m, m.training) for m in subject.generator.modules()]
    caller_rng = RNGState.capture()
    try:
        _roundtrip(subject, save or default_save, load, reference_factory, samples, seed)
    finally:
        for m, mode in modes:
            m.training = mode
        caller_rng.restore()


def _roundtrip(
    subject: Subject,
    save: SaveFn,
    load: LoadFn,
    reference: ModuleFactory | None,
    samples: int,
    seed: int,
) -> None:
    z, y = latents(subject, samples, seed)
    # Measured before save runs: a save may move or change the module it is given.
    trained_out = trained_outputs(subject, z, y, seed)
    trained = cpu_state(subject.generator)
    params = parameter_keys(subject.generator)
    with tempfile.TemporaryDirectory(prefix="pytest-gan-checkpoint-") as folder:
        path = Path(folder) / CHECKPOINT_NAME
        try:
            save(subject.generator, path)
        except Exception as exc:
            raise _raised("save", exc) from exc
        checkpoint = read_checkpoint(path, trained)
        if checkpoint.unsafe is not None:
            raise _unsafe(checkpoint.unsafe)
        # Two fresh instances: what a load fills, and which initial values are random.
        fresh = [subject.factory() for _ in range(2)] if subject.factory else []
        ctx = Context(
            subject,
            trained,
            params,
            checkpoint,
            [cpu_state(m) for m in fresh],
            list(fresh[0].state_dict()) if fresh else None,
        )
        try:
            module = load(path)
        except Exception as exc:
            raise _load_failed(ctx, exc) from exc
    if not isinstance(module, nn.Module):
        raise TypeError(f"load must return an nn.Module; it returned {type(module).__name__}")
    ctx.target_keys = list(module.state_dict())
    reloaded = cpu_state(module)
    try:
        reloaded_out = forward(module, z, y, seed)
    except Exception as exc:
        raise fail(
            "checkpoint-roundtrip-mismatch",
            "The reloaded generator raised on the z the trained one accepts: "
            f"{type(exc).__name__}: {exc}",
            [("forward on the same z", "raised", "ran")],
            {"error": f"{type(exc).__name__}: {exc}"},
            detail="The load built a model of another architecture or configuration "
            "than the trained generator's.",
        ) from exc
    inits = find_inits(subject, reference, z, y, seed)
    _judge(ctx, module, reloaded, trained_out, reloaded_out, inits)
    # A faithful round trip of a bare generator: was it ever trained? A fresh instance,
    # not used again, takes the step that tells which tensors training moves.
    judge_never_trained(ctx, fresh[-1] if fresh else None, samples, seed)


def _raised(what: str, exc: Exception) -> GANAssertionError:
    return fail(
        "checkpoint-roundtrip-mismatch",
        f"The {what} raised {type(exc).__name__}: {exc}",
        [(what, "raised", "ran")],
        {"stage": what, "error": f"{type(exc).__name__}: {exc}"},
    )


def _unsafe(globals_needed: str) -> GANAssertionError:
    return fail(
        "checkpoint-roundtrip-mismatch",
        "The checkpoint cannot be read by torch.load(weights_only=True), the default since "
        "torch 2.6: it pickles Python objects, and reading it would run code from the file. "
        "It was not loaded.",
        [
            ("loads with weights_only=True", "no", "yes"),
            ("Python objects it needs", globals_needed, "none (tensors only)"),
        ],
        {"unsafe": True, "globals": globals_needed},
        detail="A whole module saved with torch.save(model, path), or custom classes in "
        "the saved object, need an unpickling that executes what the file names; anyone "
        "loading it must trust the file, and it breaks when the class moves. Save "
        "model.state_dict() (plain tensors), and keep other values to str, int, float, "
        "lists and dicts; classes that must stay can be allowed with "
        "torch.serialization.add_safe_globals.",
    )


def _load_failed(ctx: Context, exc: Exception) -> GANAssertionError:
    unsafe = unsafe_globals(exc)
    if unsafe is not None:
        return _unsafe(unsafe)
    text = f"{type(exc).__name__}: {exc}"
    causes, evidence = ctx.key_causes(None)
    if "deserialize object on a CUDA device" in str(exc) or (
        ctx.checkpoint.locations and "map_location" in str(exc)
    ):
        saved_on = ", ".join(sorted(ctx.checkpoint.locations)) or "a CUDA device"
        causes.insert(
            0,
            f"The checkpoint was saved from {saved_on}; loading it where that device is "
            "missing needs torch.load(..., map_location=device).",
        )
        evidence["saved_on"] = sorted(ctx.checkpoint.locations)
    rows: list[tuple[str, Any, str]] = [("load", "raised", "ran"), *_key_rows(evidence, ctx)]
    first, _, rest = text.partition("\n")
    parts = ["Causes found:\n" + "\n".join(f"- {c}" for c in causes)] if causes else []
    if rest.strip():
        parts.append("The load's error in full:\n" + text)
    detail = "\n\n".join(parts)
    return fail(
        "checkpoint-roundtrip-mismatch",
        f"The checkpoint could not be loaded back: {first.strip().rstrip(':')}.",
        rows,
        {"stage": "load", "error": text, **evidence},
        detail=detail,
    )


def _key_rows(evidence: Mapping[str, Any], ctx: Context) -> list[tuple[str, Any, str]]:
    """Evidence rows for the key-naming causes: tensors missing from the file, prefixes."""
    rows: list[tuple[str, Any, str]] = []
    if "missing_from_checkpoint" in evidence:
        missing = len(evidence["missing_from_checkpoint"])
        rows.append(("trained tensors missing from the checkpoint", missing, "0"))
    if evidence.get("prefix_mismatch"):
        rows.append(_prefix_row(ctx))
    return rows


def _prefix_row(ctx: Context) -> tuple[str, Any, str]:
    def where(keys: list[str]) -> str:
        return "prefixed" if prefixed(keys) else "plain"

    in_file, in_model = where(list(ctx.checkpoint.state or {})), where(ctx.target_keys or [])
    return ("keys in the file / in the model", f"{in_file} / {in_model}", "alike")


def _judge(
    ctx: Context,
    module: nn.Module,
    reloaded: dict[str, torch.Tensor],
    trained_out: torch.Tensor,
    reloaded_out: torch.Tensor,
    inits: list[Init],
) -> None:
    __tracebackhide__ = True
    trained = ctx.trained
    missing = [k for k in trained if k not in reloaded]
    extra = [k for k in reloaded if k not in trained]
    differ = [k for k in trained if k in reloaded and not same_tensor(trained[k], reloaded[k])]
    largest, mean, relative = output_gap(trained_out, reloaded_out)
    expected, actual = ctx.subject.device, device_of(module)
    moved = expected is not None and actual is not None and actual != expected
    if not (missing or extra or differ or moved or relative > OUTPUT_RTOL):
        judge_exact_init(reloaded, inits)
        return
    verdict = untrained_verdict(ctx, reloaded, reloaded_out, trained_out, inits)
    key_causes, key_evidence = ctx.key_causes(differ)
    rows: list[tuple[str, Any, str]] = [
        ("largest output difference, relative", relative, f"<= {OUTPUT_RTOL:g}"),
        ("largest output difference", largest, "0"),
        ("state tensors that differ after reload", f"{len(differ)} of {len(trained)}", "0"),
    ]
    evidence: dict[str, Any] = {
        "output_max_diff": largest,
        "output_mean_diff": mean,
        "output_relative_diff": relative,
        "differing": differ,
        "missing": missing,
        "extra": extra,
        "device": str(actual),
        "expected_device": str(expected),
    }
    if verdict is not None and not key_causes:
        reasons, init_rows, init_evidence = verdict
        raise fail(
            "checkpoint-not-trained",
            "The checkpoint holds an untrained generator: the reloaded model keeps none of "
            f"the trained parameters, and {reasons}.",
            [*init_rows, rows[0]],
            evidence | init_evidence,
            detail="The round trip itself may work; what was saved is not the trained "
            "generator (a newly built one, or a copy taken before training).",
        )
    causes = list(key_causes)
    if moved:
        causes.append(
            f"The reloaded generator is on {actual}, where {expected} was expected (the "
            "trained generator's device unless device= names another): the load maps the "
            "checkpoint elsewhere (map_location) or builds the model on another device. "
            "Move it with .to(device) after loading, or pass the intended device= to this "
            "check."
        )
    if missing:
        causes.append(
            f"The reloaded model lacks {len(missing)} of the trained generator's tensors "
            f"({names(missing)}): the load builds another architecture."
        )
    if extra:
        causes.append(
            f"The reloaded model has {len(extra)} tensors the trained generator lacks "
            f"({names(extra)}): the load builds another architecture."
        )
    in_file = ctx.checkpoint.canonical
    if differ and ctx.checkpoint.state is not None and not key_causes:
        from_file = [k for k in differ if k in in_file and same_tensor(in_file[k], trained[k])]
        other = [k for k in differ if k in in_file and k not in from_file]
        if from_file:
            causes.append(
                f"The checkpoint holds the trained values of {names(from_file)}, but the "
                "reloaded model does not: the load does not put them into the model it "
                "returns."
            )
        if other:
            causes.append(
                f"The checkpoint itself holds other values than the trained generator for "
                f"{names(other)}: the save wrote another model, or an earlier state."
            )
            if not ctx.fresh and not inits:
                causes.append(
                    "Pass factory= or reference= (a freshly initialised generator) to tell "
                    "whether the checkpoint holds an initialisation."
                )
    elif differ and not key_causes:
        causes.append(f"Tensors with other values after reload: {names(differ)}.")
    if not (missing or extra or differ) and relative > OUTPUT_RTOL and not moved:
        causes.append(
            "Every tensor of the state dict came back, yet the outputs differ: the load "
            "builds a model configured differently, or the generator keeps state outside "
            "its state dict (non-persistent buffers, plain attributes)."
        )
    if moved and not (missing or extra or differ) and relative <= OUTPUT_RTOL:
        summary = (
            f"The generator reloaded from its checkpoint is on {actual}, not on {expected} "
            "as expected; its state and outputs match the trained generator's."
        )
    else:
        summary = (
            "The generator reloaded from its checkpoint does not reproduce the trained one: "
            f"the same z gives outputs that differ by up to {largest:.3g} "
            f"({relative:.3g} of their scale), and {len(differ)} of {len(trained)} state "
            "tensors differ."
        )
    rows.extend(_key_rows(key_evidence, ctx))
    if moved:
        rows.append(("device of the reloaded generator", str(actual), str(expected)))
    raise fail(
        "checkpoint-roundtrip-mismatch",
        summary,
        rows,
        evidence | key_evidence,
        detail="Causes found:\n" + "\n".join(f"- {c}" for c in causes) if causes else "",
    )


#: The check of this module (``pytest_gan.checks.ALL``).
CHECKPOINT_ROUNDTRIP = Check(
    "checkpoint-roundtrip",
    assert_checkpoint_roundtrip,
    ("checkpoint-roundtrip-mismatch", "checkpoint-not-trained"),
)
