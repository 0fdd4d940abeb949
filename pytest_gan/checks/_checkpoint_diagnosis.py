"""What a failed checkpoint round trip reveals: the diagnoses behind its verdict.

``Context`` holds everything the round trip measured (the trained state, the checkpoint
file as read with ``weights_only=True``, fresh instances from the factory) and reads the
causes the file's keys give away: ``module.`` prefixes, tensors the save left out, a
non-strict load that hid them. ``untrained_verdict`` and ``judge_exact_init`` decide
whether the reloaded generator is an initialisation rather than the trained one (pitfall
``checkpoint-not-trained``). ``pytest_gan.checks.checkpoint`` runs the round trip and
raises the verdict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pytest_gan.checks._checkpoint_file import (
    WRAPPER_PREFIX,
    CheckpointFile,
    canonical_key,
    cpu_state,
    parameter_keys,
    same_tensor,
)
from pytest_gan.checks._subject import (
    STREAM_MOVED,
    Subject,
    device_of,
    forward,
    latents,
    output_gap,
    seed_forward,
)
from pytest_gan.errors import fail
from pytest_gan.losses import samples_of
from pytest_gan.probing import eager
from pytest_gan.rng import derive_seed, local_generator
from pytest_gan.spec import ModuleFactory, latent_dtype

#: Names shown in a message before "... (N in all)".
_SHOWN = 6


def names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOWN else "")


def prefixed(keys: list[str]) -> bool:
    return bool(keys) and all(k.startswith(WRAPPER_PREFIX) for k in keys)


@dataclass
class Context:
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
        if self.target_keys is not None and prefixed(raw) != prefixed(self.target_keys):
            evidence["prefix_mismatch"] = True
            if prefixed(raw):
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
                    f"{len(buffers)} buffers ({names(buffers)}): BatchNorm running "
                    "statistics and spectral-norm u/v vectors live in buffers, which "
                    "named_parameters() leaves out"
                )
            if params:
                parts.append(f"{len(params)} parameters ({names(params)})")
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


def trained_parameters(ctx: Context, inits: list[Init]) -> list[str]:
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
class Init:
    """An initialisation the reloaded generator may be: its label, state and outputs."""

    label: str
    state: dict[str, torch.Tensor]
    outputs: torch.Tensor | None


def find_inits(
    subject: Subject,
    reference: ModuleFactory | None,
    z: torch.Tensor,
    y: torch.Tensor | None,
    seed: int,
) -> list[Init]:
    found: list[Init] = []
    if subject.initial_state is not None and subject.factory is not None:
        module = subject.factory()
        module.load_state_dict(subject.initial_state)
        if subject.device is not None:
            module = module.to(subject.device)
        label = "the run's initial generator"
        found.append(Init(label, subject.initial_state, forward(module, z, y, seed)))
    if reference is not None:
        module = reference()
        if subject.device is not None:
            module = module.to(subject.device)
        found.append(Init("the reference", cpu_state(module), forward(module, z, y, seed)))
    return found


def equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(same_tensor(a[k], b[k]) for k in a)


def untrained_verdict(
    ctx: Context,
    reloaded: dict[str, torch.Tensor],
    reloaded_out: torch.Tensor,
    trained_out: torch.Tensor,
    inits: list[Init],
) -> tuple[str, list[tuple[str, Any, str]], dict[str, Any]] | None:
    """Why the reloaded generator is an initialisation, or None when it does not look like
    one (then the round trip merely failed).

    It must hold none of the parameters training changed, in the model or in the file, and
    look like an initialisation: equal to one, nearer to one's outputs than to the trained
    generator's, or with the buffers training changed at their initial values.
    """
    changed = trained_parameters(ctx, inits)
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
    for init in inits + [Init("a fresh instance from factory", s, None) for s in ctx.fresh[:1]]:
        if equal_states(reloaded, init.state):
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
                f"the buffers training changed ({names(buffers)}) are at their initial values"
            )
    if not reasons:
        return None
    return "; ".join(reasons), rows, evidence


def judge_exact_init(reloaded: dict[str, torch.Tensor], inits: list[Init]) -> None:
    """An exact round trip of an initialisation: the generator saved was never trained."""
    __tracebackhide__ = True
    for init in inits:
        if equal_states(reloaded, init.state):
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


def moved_by_a_step(
    module: nn.Module, z: torch.Tensor, y: torch.Tensor | None, seed: int
) -> set[str] | None:
    """State keys of ``module`` (a fresh instance, changed by this) that one training step
    would move: parameters that get a gradient other than zero from a train-mode forward
    (a random projection of the output), and buffers that forward changes (BatchNorm's
    running statistics and batch count). None when the module cannot be run so."""
    device = device_of(module) or torch.device("cpu")
    before = cpu_state(module)
    try:
        module.train()
        module.zero_grad(set_to_none=True)
        with torch.enable_grad(), eager():
            seed_forward(device, derive_seed(seed, STREAM_MOVED))
            inputs: tuple[torch.Tensor, ...] = (z.to(device, latent_dtype(module)),)
            inputs += () if y is None else (y.to(device),)
            out = samples_of(module(*inputs))
            weights = torch.randn(out.shape, generator=local_generator(seed, STREAM_MOVED))
            (out.float() * weights.to(out.device)).sum().backward()
        moved = {canonical_key(k) for k, p in module.named_parameters() if _has_gradient(p)}
    except Exception:
        return None
    after = cpu_state(module)
    params = parameter_keys(module)
    return moved | {
        k for k in after if k not in params and k in before and not same_tensor(before[k], after[k])
    }


def _has_gradient(p: torch.Tensor) -> bool:
    grad = p.grad
    if grad is None:
        return False
    if grad.is_sparse:
        grad = grad.coalesce().values()
    return bool((grad != 0).any())


def _zeros_or_ones(t: torch.Tensor) -> bool:
    """A tensor of zeros, or of ones: the values layers set by construction (a
    normalisation's weight and bias, BatchNorm's running statistics and batch count, a
    bias initialised to zero), never the values of a loaded, pretrained part."""
    return t.numel() > 0 and (bool((t == 0).all()) or bool((t == 1).all()))


def judge_never_trained(ctx: Context, probe: nn.Module | None, samples: int, seed: int) -> None:
    """A bare generator whose round trip is exact but which never left its initialisation:
    every tensor that the factory's instances set to zeros or ones and that a training step
    moves (:func:`moved_by_a_step`, on a copy of ``probe``, a fresh instance, on the
    generator's device) holds that value exactly, among them at least one parameter the
    generator trains (``requires_grad``, read from the generator checked unless it is
    frozen whole) in single precision or wider (a half-precision update of a weight of 1
    can round away). A run's generator is judged on its exact initial state instead
    (:func:`judge_exact_init`).

    No verdict where the factory's instances are all alike (a factory that copies one
    module, or seeds itself, tells no initial value from a trained one), or where no such
    tensor exists (random-initialised layers alone, BatchNorm without affine parameters,
    a frozen or pretrained part)."""
    __tracebackhide__ = True
    if ctx.subject.initial_state is not None or len(ctx.fresh) < 2 or probe is None:
        return
    a, b = ctx.fresh
    shared = [k for k in ctx.trained if k in a and k in b]
    alike = [k for k in shared if same_tensor(a[k], b[k])]
    fixed_init = [k for k in alike if _zeros_or_ones(a[k])]
    # Instances all alike, nothing set to zeros or ones, or some of it moved: no verdict.
    if len(alike) == len(shared) or not fixed_init:
        return
    if not all(same_tensor(ctx.trained[k], a[k]) for k in fixed_init):
        return
    # A generator frozen whole (an EMA copy, a module made ready for inference) says
    # nothing by its flags of which parameters trained; one frozen in part does.
    named = list(ctx.subject.generator.named_parameters())
    whole = not any(p.requires_grad for _, p in named)
    trained_params = {
        canonical_key(k)
        for k, p in named
        if (p.requires_grad or whole) and p.is_floating_point() and p.element_size() >= 4
    }
    if not trained_params & set(fixed_init):
        return
    try:
        probe = copy.deepcopy(probe)  # a part shared with the caller's modules stays theirs
        if ctx.subject.device is not None:
            probe = probe.to(ctx.subject.device)
    except Exception:
        return
    z, y = latents(ctx.subject, max(samples, 2), seed)  # BatchNorm needs two in a batch
    moved = moved_by_a_step(probe, z, y, seed) or set()
    fixed = [k for k in fixed_init if k in moved and (k in trained_params or k not in ctx.params)]
    if not trained_params & set(fixed):
        return
    n = len(fixed)
    raise fail(
        "checkpoint-not-trained",
        "The round trip is exact, but the generator it carries never took a training step: "
        f"every tensor that the factory sets to zeros or ones and that a step moves ({n}: "
        f"{names(fixed)}) still holds that value exactly.",
        [("tensors a step moves, at their fixed initial values", f"{n} of {n}", "fewer")],
        {"at_fixed_init": fixed},
        detail="Saving and loading work; the generator checked kept its initial values "
        "where training changes them first (a BatchNorm's batch count still 0, a "
        "normalisation weight still exactly 1). A copy taken before training and never "
        "updated (an EMA or 'best' copy whose update is never called) is saved in place of "
        "the trained generator, or the generator checked is not the one training updated. "
        "If it did train, its optimizer leaves these tensors out: see "
        "assert_optimizers_cover.",
    )
