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
unsafe unpickling could read is refused before any load runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pytest_gan import _defaults
from pytest_gan._args import check_int
from pytest_gan.checks._check import Check
from pytest_gan.checks._checkpoint_file import (
    CHECKPOINT_NAME,
    WRAPPER_PREFIX,
    CheckpointFile,
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


# Names shown in a message before "... (N in all)".
_SHOWN = 6


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOWN else "")


def _prefixed(keys: list[str]) -> bool:
    return bool(keys) and all(k.startswith(WRAPPER_PREFIX) for k in keys)


@dataclass
class _Context:
    """Everything measured, shared by the diagnoses."""

    subject: Subject
    trained: dict[str, torch.Tensor]
    params: set[str]
    checkpoint: CheckpointFile
    fresh: list[dict[str, torch.Tensor]]
    target_keys: list[str] | None  # raw keys of the module the load fills

    def key_causes(self, differ: list[str] | None) -> tuple[list[str], dict[str, Any]]:
        """Causes the checkpoint's keys reveal: prefixes, missing tensors, a silent load.

        ``differ`` lists the reloaded tensors that differ from the trained ones, or is None
        when the load raised; after a load, only causes that explain a difference count.
        """
        causes: list[str] = []
        evidence: dict[str, Any] = {}
        if self.checkpoint.state is None or differ == []:
            return causes, evidence
        raw = list(self.checkpoint.state)
        in_file = self.checkpoint.canonical
        if self.target_keys is not None and _prefixed(raw) != _prefixed(self.target_keys):
            evidence["prefix_mismatch"] = True
            if _prefixed(raw):
                causes.append(
                    f"The checkpoint's keys start with {WRAPPER_PREFIX!r} (as nn.DataParallel "
                    "and DistributedDataParallel name them) but the model it is loaded into "
                    f"has no such prefix (e.g. {raw[0]!r} against {self.target_keys[0]!r}): "
                    "save the wrapped model's .module.state_dict(), or strip the prefix "
                    "before load_state_dict."
                )
            else:
                causes.append(
                    f"The model it is loaded into names its keys with {WRAPPER_PREFIX!r} "
                    "(wrapped in nn.DataParallel or DistributedDataParallel) but the "
                    "checkpoint's keys have no such prefix: load into the wrapped model's "
                    ".module."
                )
        missing = [k for k in self.trained if k not in in_file]
        if differ is not None and not set(missing) & set(differ):
            missing = []
        if missing:
            buffers = [k for k in missing if k not in self.params]
            params = [k for k in missing if k in self.params]
            evidence["missing_from_checkpoint"] = missing
            parts = []
            if buffers:
                parts.append(
                    f"{len(buffers)} buffers ({_names(buffers)}): BatchNorm running "
                    "statistics and spectral-norm u/v vectors live in buffers, which "
                    "named_parameters() leaves out"
                )
            if params:
                parts.append(f"{len(params)} parameters ({_names(params)})")
            causes.append(
                "The checkpoint lacks tensors of the trained generator's state dict: "
                + "; ".join(parts)
                + ". Save module.state_dict(), which holds parameters and buffers."
            )
        if differ is not None and (missing or evidence.get("prefix_mismatch")):
            evidence["silent_load"] = True
            causes.append(
                "The load did not complain about the missing keys: load_state_dict(..., "
                "strict=False) skips them silently, and the model keeps its fresh initial "
                "values there. Load with strict=True (the default)."
            )
        return causes, evidence

    def deterministic_buffers(self) -> list[str]:
        """Buffers two fresh instances initialise alike (BatchNorm statistics; not the
        random spectral-norm vectors) and that training changed."""
        if len(self.fresh) < 2:
            return []
        a, b = self.fresh
        return [
            k
            for k in self.trained
            if k not in self.params
            and k in a
            and k in b
            and same_tensor(a[k], b[k])
            and not same_tensor(a[k], self.trained[k])
        ]


def _trained_parameters(ctx: _Context, inits: list[_Init]) -> list[str]:
    """Parameter keys training changed: judged against the run's initial state, else the
    reference, else a fresh instance (where parameters training left alone, such as a
    bias cancelled by the BatchNorm after it, count as changed); all of them when none is
    known."""
    known = [i.state for i in inits] + ctx.fresh[:1]
    base = known[0] if known else None
    keys = [k for k in ctx.trained if k in ctx.params]
    if base is None:
        return keys
    return [k for k in keys if k not in base or not same_tensor(base[k], ctx.trained[k])]


@dataclass
class _Init:
    """An initialisation the reloaded generator may be: its label, state and outputs."""

    label: str
    state: dict[str, torch.Tensor]
    outputs: torch.Tensor | None


def _inits(
    subject: Subject,
    reference: ModuleFactory | None,
    z: torch.Tensor,
    y: torch.Tensor | None,
    seed: int,
) -> list[_Init]:
    found: list[_Init] = []
    if subject.initial_state is not None and subject.factory is not None:
        module = subject.factory()
        module.load_state_dict(subject.initial_state)
        if subject.device is not None:
            module = module.to(subject.device)
        label = "the run's initial generator"
        found.append(_Init(label, subject.initial_state, forward(module, z, y, seed)))
    if reference is not None:
        module = reference()
        if subject.device is not None:
            module = module.to(subject.device)
        found.append(_Init("the reference", cpu_state(module), forward(module, z, y, seed)))
    return found


def _equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(same_tensor(a[k], b[k]) for k in a)


def _untrained_verdict(
    ctx: _Context,
    reloaded: dict[str, torch.Tensor],
    reloaded_out: torch.Tensor,
    trained_out: torch.Tensor,
    inits: list[_Init],
) -> tuple[str, list[tuple[str, Any, str]], dict[str, Any]] | None:
    """Why the reloaded generator is an initialisation, or None when it does not look like
    one (then the round trip merely failed).

    It must hold none of the parameters training changed, in the model or in the file, and
    look like an initialisation: equal to one, nearer to one's outputs than to the trained
    generator's, or with the buffers training changed at their initial values.
    """
    changed = _trained_parameters(ctx, inits)
    if not changed:
        return None
    kept = [k for k in changed if k in reloaded and same_tensor(reloaded[k], ctx.trained[k])]
    in_file = ctx.checkpoint.canonical
    kept_in_file = [k for k in changed if k in in_file and same_tensor(in_file[k], ctx.trained[k])]
    if kept or kept_in_file:
        return None
    rows: list[tuple[str, Any, str]] = [
        ("trained parameter tensors in the reloaded model", f"0 of {len(changed)}", "all")
    ]
    evidence: dict[str, Any] = {"trained_parameters_kept": 0, "trained_parameters": len(changed)}
    reasons: list[str] = []
    for init in inits + [_Init("a fresh instance from factory", s, None) for s in ctx.fresh[:1]]:
        if _equal_states(reloaded, init.state):
            reasons.append(f"its state equals {init.label}'s")
            evidence["equals"] = init.label
            break
    d_trained = output_gap(trained_out, reloaded_out)[1]
    # (distance of the reloaded outputs to the init's, of the trained ones to the init's)
    near = [
        (output_gap(i.outputs, reloaded_out)[1], output_gap(i.outputs, trained_out)[1], i.label)
        for i in inits
        if i.outputs is not None
    ]
    if near:
        d_init, d_moved, label = min(near)
        rows += [
            ("mean output distance to the trained generator", d_trained, "0"),
            (f"mean output distance to {label}", d_init, "-"),
            (f"mean output distance, trained generator to {label}", d_moved, "-"),
        ]
        evidence.update(
            distance_to_trained=d_trained, distance_to_init=d_init, trained_to_init=d_moved
        )
        # Nearer to the initialisation than to the trained generator is not enough: two
        # independent initialisations of a generator without BatchNorm lie about as far
        # apart as a briefly trained one from either (seeds 0-4 of the tiny MLP GAN, 20
        # steps, fell on both sides). Nearer to it than training took the generator is.
        if d_init < min(d_trained, d_moved):
            reasons.append(
                f"its outputs lie nearer to {label}'s than to the trained generator's, and "
                "nearer than training moved the generator from it"
            )
    buffers = ctx.deterministic_buffers()
    if buffers:
        fresh = ctx.fresh[0]
        at_init = [k for k in buffers if k in reloaded and same_tensor(reloaded[k], fresh[k])]
        rows.append(
            (
                "buffers training changed, at their initial values",
                f"{len(at_init)} of {len(buffers)}",
                "0",
            )
        )
        evidence["buffers_at_init"] = at_init
        if len(at_init) == len(buffers):
            reasons.append(
                f"the buffers training changed ({_names(buffers)}) are at their initial values"
            )
    if not reasons:
        return None
    return "; ".join(reasons), rows, evidence


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
    an initialisation. ``latent_dim`` (the shape of one z) and ``num_classes`` (for
    ``G(z, y)``) default to the run's spec, else to the generator's attributes of those
    names; a bare generator's latent shape is otherwise inferred from its first layer
    (``infer_latent_shape``), and ``latent_dim=`` is asked for only when that fails.
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
    reference_factory = as_factory(reference, "reference")
    check_int(samples, "samples")
    check_int(seed, "seed", least=0)
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
        checkpoint = read_checkpoint(path, set(trained))
        if checkpoint.unsafe is not None:
            raise _unsafe(checkpoint.unsafe)
        # Two fresh instances: what a load fills, and which initial values are random.
        fresh = [subject.factory() for _ in range(2)] if subject.factory else []
        ctx = _Context(
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
    inits = _inits(subject, reference, z, y, seed)
    _judge(ctx, module, reloaded, trained_out, reloaded_out, inits)


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


def _load_failed(ctx: _Context, exc: Exception) -> GANAssertionError:
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


def _key_rows(evidence: Mapping[str, Any], ctx: _Context) -> list[tuple[str, Any, str]]:
    """Evidence rows for the key-naming causes: tensors missing from the file, prefixes."""
    rows: list[tuple[str, Any, str]] = []
    if "missing_from_checkpoint" in evidence:
        missing = len(evidence["missing_from_checkpoint"])
        rows.append(("trained tensors missing from the checkpoint", missing, "0"))
    if evidence.get("prefix_mismatch"):
        rows.append(_prefix_row(ctx))
    return rows


def _prefix_row(ctx: _Context) -> tuple[str, Any, str]:
    def where(keys: list[str]) -> str:
        return "prefixed" if _prefixed(keys) else "plain"

    in_file, in_model = where(list(ctx.checkpoint.state or {})), where(ctx.target_keys or [])
    return ("keys in the file / in the model", f"{in_file} / {in_model}", "alike")


def _judge(
    ctx: _Context,
    module: nn.Module,
    reloaded: dict[str, torch.Tensor],
    trained_out: torch.Tensor,
    reloaded_out: torch.Tensor,
    inits: list[_Init],
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
        _judge_trained(reloaded, inits)
        return
    verdict = _untrained_verdict(ctx, reloaded, reloaded_out, trained_out, inits)
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
            f"({_names(missing)}): the load builds another architecture."
        )
    if extra:
        causes.append(
            f"The reloaded model has {len(extra)} tensors the trained generator lacks "
            f"({_names(extra)}): the load builds another architecture."
        )
    in_file = ctx.checkpoint.canonical
    if differ and ctx.checkpoint.state is not None and not key_causes:
        from_file = [k for k in differ if k in in_file and same_tensor(in_file[k], trained[k])]
        other = [k for k in differ if k in in_file and k not in from_file]
        if from_file:
            causes.append(
                f"The checkpoint holds the trained values of {_names(from_file)}, but the "
                "reloaded model does not: the load does not put them into the model it "
                "returns."
            )
        if other:
            causes.append(
                f"The checkpoint itself holds other values than the trained generator for "
                f"{_names(other)}: the save wrote another model, or an earlier state."
            )
            if not ctx.fresh and not inits:
                causes.append(
                    "Pass factory= or reference= (a freshly initialised generator) to tell "
                    "whether the checkpoint holds an initialisation."
                )
    elif differ and not key_causes:
        causes.append(f"Tensors with other values after reload: {_names(differ)}.")
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


def _judge_trained(reloaded: dict[str, torch.Tensor], inits: list[_Init]) -> None:
    """An exact round trip of an initialisation: the generator saved was never trained."""
    __tracebackhide__ = True
    for init in inits:
        if _equal_states(reloaded, init.state):
            n = len(init.state)
            raise fail(
                "checkpoint-not-trained",
                f"The round trip is exact, but what it carries equals {init.label}: the "
                "generator that was saved never left its initialisation.",
                [(f"state tensors equal to {init.label}'s", f"{n} of {n}", "fewer")],
                {"equals": init.label},
                detail="Saving and loading work; training did not change the generator "
                "(see assert_generator_learns), or the generator checked is not the "
                "trained one.",
            )


#: The check of this module (``pytest_gan.checks.ALL``).
CHECKPOINT_ROUNDTRIP = Check(
    "checkpoint-roundtrip",
    assert_checkpoint_roundtrip,
    ("checkpoint-roundtrip-mismatch", "checkpoint-not-trained"),
)
