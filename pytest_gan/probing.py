"""The looks at a run's networks that leave no trace on training: the periodic
:class:`Prober` (D's scores on held-out real samples, a fixed training batch and fixed-z
fakes; G's samples and how far they are from the data), and the final
:func:`saturation_probe` (the training step re-run on copies of the networks with D forced
to saturate, where a numerically fragile loss turns NaN), with the tracing of what a loss
does with D's outputs (:class:`LossOps`, :func:`read_loss`).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

from pytest_gan import _defaults
from pytest_gan.history import LOSS_KEYS, History, Probe, Saturation
from pytest_gan.instrument import as_float
from pytest_gan.losses import (
    BY_RANGE,
    LOGIT,
    PROBABILITY,
    SCORE,
    call_d_rows,
    copy_module,
    d_score,
    per_sample_scores,
    samples_of,
)
from pytest_gan.metrics import mean_pairwise_distance, reach
from pytest_gan.rng import RNGState, preserved_torch_rng
from pytest_gan.spec import GANSpec, dry_inputs, eval_modes, floating_dtype


def _snapshot_buffers(modules: tuple[nn.Module, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, b.detach().clone()) for m in modules for b in m.buffers()]


def _restore_buffers(snapshot: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    # Only buffers that changed are written back: a look in eval mode changes none, and
    # leaves their version counters (which GANRun.samples keys its reuse on) untouched.
    with torch.no_grad():
        for buf, saved in snapshot:
            if not torch.equal(buf, saved):
                buf.copy_(saved)


def eager() -> contextlib.AbstractContextManager[Any]:
    """``torch.compile`` set aside for a look at the networks: a compiled G or D runs its
    forward as written (the same computation), where compiling it again for the look's
    gradient mode, hooks or traced tensors would cost seconds, warn of its recompile limit
    and use up the recompiles the team's own training has left. Nothing changes inside a
    region already being compiled or where dynamo refuses a change of stance, nor where
    dynamo was never imported (no network can be compiled then; importing it would cost a
    second and a half of every run). The stance is the process's: for the look's duration,
    another thread's compiled networks run eagerly too. Eager numerics are the module's
    own, not the compiled kernels' (inductor may keep half-precision intermediates in
    float32)."""
    # set_stance is torch 2.6's (is_compiling 2.3's): with an older torch, looks compile
    # as they did before.
    set_stance = getattr(torch.compiler, "set_stance", None)
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    if "torch._dynamo" not in sys.modules or set_stance is None or is_compiling is None:
        return contextlib.nullcontext()
    if is_compiling():
        return contextlib.nullcontext()
    try:
        stance: contextlib.AbstractContextManager[Any] = set_stance("force_eager")
    except RuntimeError:
        # Called where dynamo is active without tracing (a hook run from a compiled
        # optimizer step, past a graph break): set_stance refuses there; look as before.
        return contextlib.nullcontext()
    return stance


class preserved_state:
    """Context manager for a look at the networks that leaves no trace on training.

    Buffers (BatchNorm running statistics, spectral-norm power-iteration vectors) are
    restored, torch's RNG state is restored, gradients are off, and a compiled network
    runs eagerly (:func:`eager`).
    """

    def __init__(self, *modules: nn.Module) -> None:
        self.modules = modules

    def __enter__(self) -> None:
        self._eager = eager()
        self._eager.__enter__()
        self._buffers = _snapshot_buffers(self.modules)
        self._rng = preserved_torch_rng()
        self._rng.__enter__()
        self._grad = torch.no_grad()
        self._grad.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._grad.__exit__(*exc)
        self._rng.__exit__(*exc)
        _restore_buffers(self._buffers)
        self._eager.__exit__(*exc)


def _per_sample(out: torch.Tensor) -> torch.Tensor:
    """D's output reduced to one score per sample (patch discriminators give maps)."""
    return out.reshape(out.shape[0], -1).float().mean(dim=1)


def auc(real: torch.Tensor, fake: torch.Tensor) -> float:
    """How well D's scores rank real above fake, with no threshold: the probability that
    a real sample scores above a fake one (ties count half). 1 is perfect separation, 1/2
    chance, below 1/2 D ranks the fakes as more real than the real samples."""
    diff = real.double()[:, None] - fake.double()[None, :]
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def _r_v(d_train: torch.Tensor, d_held: torch.Tensor, d_fake: torch.Tensor) -> float:
    train, held, fake = (float(t.double().mean()) for t in (d_train, d_held, d_fake))
    gap = train - fake
    return (train - held) / gap if gap > 0 else math.nan


def _spread(x: torch.Tensor) -> float:
    """``metrics.mean_pairwise_distance`` of a batch (NaN for a batch of one)."""
    return mean_pairwise_distance(x) if x.shape[0] >= 2 else math.nan


class Prober:
    """Periodic looks at D and G during training; see the module docstring."""

    def __init__(
        self,
        *,
        generator: nn.Module,
        discriminator: nn.Module,
        z: torch.Tensor,
        fake_labels: torch.Tensor | None,
        holdout: tuple[torch.Tensor, torch.Tensor | None],
        held_out: bool,
        train_batch: tuple[torch.Tensor, torch.Tensor | None],
        threshold: float | None,
        every: int,
        scores: str = SCORE,
        history: History,
    ) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.z = z
        self.fake_labels = fake_labels
        self.holdout = holdout
        self.held_out = held_out
        self.train_batch = train_batch
        # The data's own scale for fake_to_real: fixed batches, so measured once.
        self.real_to_real = reach(train_batch[0], holdout[0])
        # ... and the real batch's spread, the scale of each probe's fake_spread.
        self.real_spread = _spread(holdout[0])
        self.threshold = threshold
        # LOGIT, PROBABILITY, SCORE (no probability reading), or BY_RANGE (pytest_gan.losses).
        self.scores = scores
        self.every = every
        self.history = history

    def _d(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return _per_sample(per_sample_scores(self.discriminator, x, labels))

    def probe(self, steps_done: int) -> Probe:
        with preserved_state(self.generator, self.discriminator):
            g_in = (self.z,) if self.fake_labels is None else (self.z, self.fake_labels)
            fake = samples_of(self.generator(*g_in))
            d_fake = self._d(fake, self.fake_labels)
            d_real = self._d(*self.holdout)
            d_train = self._d(*self.train_batch)
        threshold, scores = self.threshold, self.scores
        if scores == BY_RANGE:
            outputs = torch.cat([d_real, d_fake, d_train])
            probabilities = bool((outputs >= 0).all() and (outputs <= 1).all())
            threshold, scores = (0.5, PROBABILITY) if probabilities else (0.0, LOGIT)
        elif threshold is None:
            # WGAN critics have no fixed decision boundary: split at the midpoint.
            threshold = float((d_real.mean() + d_fake.mean()) / 2)
        flat = fake.reshape(fake.shape[0], -1).float()
        # D's belief that the fakes are real, where its outputs are probabilities or
        # logits; a hinge or WGAN critic's scores are neither.
        if scores == LOGIT:
            d_fake_p = float(torch.sigmoid(d_fake).mean())
        elif scores == PROBABILITY:
            d_fake_p = float(d_fake.clamp(0, 1).mean())
        else:
            d_fake_p = math.nan
        record = Probe(
            step=steps_done,
            d_real=float(d_real.mean()),
            d_fake=float(d_fake.mean()),
            d_train=float(d_train.mean()),
            d_threshold=threshold,
            d_acc_real=float((d_real > threshold).float().mean()),
            d_acc_fake=float((d_fake <= threshold).float().mean()),
            d_auc=auc(d_real, d_fake),
            d_fake_p=d_fake_p,
            r_t=float(torch.sign(d_train - threshold).mean()),
            r_v=_r_v(d_train, d_real, d_fake),
            d_train_auc=auc(d_train, d_real),
            held_out=self.held_out,
            fake_mean=float(flat.mean()),
            fake_std=float(flat.std()),
            fake_min=float(flat.min()),
            fake_max=float(flat.max()),
            fake_batch_std=float(flat.std(dim=0).mean()),
            fake_spread=_spread(flat),
            real_spread=self.real_spread,
            fake_to_real=reach(flat, self.holdout[0]),
            real_to_real=self.real_to_real,
            samples=fake[: _defaults.PROBE_KEEP].detach().to("cpu", copy=True),
        )
        self.history.probes.append(record)
        return record


#: Logit the saturation probe forces on D: beyond 103.3, exp(-x) underflows float32 to 0,
#: so sigmoid(x) is exactly 1 and sigmoid(-x) exactly 0, the state a discriminator reaches
#: late in a run that short runs never see. Any loss written on logits stays finite there.
SATURATED_LOGIT = 200.0


def _layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The submodules holding parameters of their own (``module`` itself included), in
    registration order."""
    found = []
    for name, sub in module.named_modules():
        # Spectral norm and other parametrizations keep the original weight in an inner
        # module whose forward is never called: the layer they wrap is the one to hook.
        if "parametrizations" in name.split("."):
            continue
        if any(True for _ in sub.parameters(recurse=False)) or parametrize.is_parametrized(sub):
            found.append((name, sub))
    return found


def _last_parametrized(module: nn.Module) -> nn.Module:
    """The last submodule holding parameters of its own, in registration order (``module``
    itself when none does): D's final layer when D cannot be run to tell (final_layer)."""
    layers = _layers(module)
    return layers[-1][1] if layers else module


def final_layer(module: nn.Module, batch: tuple[torch.Tensor, Any] | None) -> str:
    """The name (in ``module.named_modules()``) of D's final layer: of the submodules
    holding parameters of their own, the one whose forward begins last when D runs on
    ``batch`` (``(x, labels)``; labels None for an unconditional D). Its output is what
    D's head (a Sigmoid, a mean over a patch map) turns into D's output, the layer the
    probes force. Registration order says the same for a plain stack, but not for a
    conditional D whose label embedding is declared after its layers and runs before
    them; it is the answer when D cannot be run so. The order of beginnings, not of
    endings: a module with parameters of its own that wraps others (D itself with a
    learned scale, a block with one) begins before the layers inside it and ends after
    them, and forcing it would skip a Sigmoid it applies. The look leaves no trace on D."""
    layers = _layers(module)
    if not layers:
        return ""
    began: list[str] = []
    out: Any = None
    handles = [
        sub.register_forward_pre_hook(lambda m, i, name=name: began.append(name))
        for name, sub in layers
    ]
    try:
        if batch is not None:
            with preserved_state(module):
                x, y = batch
                out = call_d_rows(module, x, y)
    except Exception:
        began = []
    finally:
        for handle in handles:
            handle.remove()
    if not began:
        return layers[-1][0]
    if isinstance(out, torch.Tensor) or batch is None:
        return began[-1]
    return _score_layer(module, batch, began)


def _score_layer(module: nn.Module, batch: tuple[torch.Tensor, Any], began: list[str]) -> str:
    """For a D that returns more than its score (an AC-GAN's class logits beside it,
    ``losses.d_score``): of the layers in the order they began, the last whose output
    reaches the score, told by forcing it; the last to begin when none is found."""
    score = _outputs(module, batch, None, "")
    if score is None:
        return began[-1]
    for name in reversed(list(dict.fromkeys(began))):
        forced = _outputs(module, batch, SATURATED_LOGIT, name)
        if forced is not None and not torch.equal(forced, score):
            return name
    return began[-1]


def _layer_named(module: nn.Module, name: str) -> nn.Module:
    """The submodule named ``name`` (a copy's, found by the original's name), or the last
    declared when there is none."""
    found = dict(module.named_modules()).get(name)
    return found if found is not None else _last_parametrized(module)


#: What a loss does with D's outputs, by the torch functions it applies to them (or to what
#: is computed from them). A classifier's loss reads them as logits or probabilities; a
#: hinge loss clips margins; a Wasserstein critic's loss only averages and subtracts them;
#: an autoencoder D's loss (BEGAN, EBGAN) compares them with D's own input
#: (``LossOps.reconstructs``), whatever it then does with the difference.
LOGIT_OPS = frozenset({"binary_cross_entropy_with_logits", "softplus", "logsigmoid", "sigmoid"})
PROBABILITY_OPS = frozenset({"binary_cross_entropy", "log", "log1p", "log2", "log10"})
SQUARE_OPS = frozenset({"mse_loss", "pow", "__pow__", "square", "square_"})
MARGIN_OPS = frozenset(
    {"relu", "relu_", "clamp", "clamp_min", "clamp_max", "minimum", "min", "hinge_embedding_loss"}
)
#: A loss that exponentiates D's scores as a softmax's energies or logits: over the whole
#: batch (Softmax GAN, ``log(sum(exp(-D)))`` or ``logsumexp``), or over classes
#: (``cross_entropy`` on a D of K+1 outputs, a semi-supervised GAN's). Such scores carry no
#: per-sample probability of being real (a softmax over the batch ranks real samples
#: *low*) and no critic's constraint.
SOFTMAX_OPS = frozenset(
    {"exp", "exp_", "logsumexp", "softmax", "log_softmax", "softmin", "cross_entropy", "nll_loss"}
)
# Functions whose result is no longer "computed from D's outputs" in the sense above: the
# gradient of a penalty (its norm is the penalty's business), copies for logging.
_UNTRACED = frozenset({"grad", "detach", "item", "tolist", "__get__", "backward", "cpu", "numpy"})


def untraced(func: Any) -> bool:
    """Whether ``func`` is one of ``_UNTRACED``. A gradient is told by identity as well as
    by name: ``torch.autograd.grad`` names the function its module holds under ``grad``
    when it reaches a mode, which is a wrapper of the user's (a timer, a counter) where one
    was put there, under the wrapper's own name."""
    return getattr(func, "__name__", "") in _UNTRACED or func is torch.autograd.grad


# How many of D's latest inputs LossOps keeps to tell a reconstruction loss: a step compares
# an input with D's output right after the call (BEGAN calls D three times a step).
_KEPT_INPUTS = 8


class LossOps(TorchFunctionMode):
    """Records, during one training step, the torch functions applied to the outputs of
    one module (D) and to every tensor computed from them, so that the loss a user's step
    computes can be read off without parsing its code."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.ops: set[str] = set()
        self.outputs: list[torch.Tensor] = []
        # The operation that made each D output (see output_head).
        self.heads: set[str | None] = set()
        # Tensors derived from D's outputs, by id; the list keeps them alive so that an id
        # is never reused by another tensor while the step runs.
        self._derived: dict[int, torch.Tensor] = {}
        # The samples D was last given (kept alive, so that their storage is never another
        # tensor's while they are here), and whether the loss compared one with D's output
        # of its shape: an autoencoder D's reconstruction of its input (BEGAN, EBGAN).
        self._inputs: collections.deque[torch.Tensor] = collections.deque(maxlen=_KEPT_INPUTS)
        self.reconstructs = False
        self._handle = module.register_forward_hook(self._tag_output)

    def _tag_output(self, module: nn.Module, inputs: Any, out: Any) -> None:
        score = d_score(out)  # the score alone: not an AC-GAN's class logits beside it
        if score is not None:
            self._derived[id(score)] = score
            self.outputs.append(score.detach())
            self.heads.add(output_head(score))
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].is_floating_point():
            # Detached: its memory is what is compared, and its graph is not kept alive.
            self._inputs.append(inputs[0].detach())

    def _is_input(self, t: torch.Tensor) -> bool:
        """Whether ``t`` holds one of the samples D was last given: a view of the same
        memory (the very tensor, or ``x.detach()`` taken again for the loss). Tensors with
        no memory of their own (meta, empty) are never matched."""
        for x in self._inputs:
            try:
                if (
                    t.device == x.device
                    and t.shape == x.shape
                    and t.numel() > 0
                    and t.stride() == x.stride()
                    and t.storage_offset() == x.storage_offset()
                    and t.untyped_storage().data_ptr() != 0
                    and t.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
                ):
                    return True
            except (RuntimeError, NotImplementedError):  # a tensor with no storage to read
                continue
        return False

    def _compares_input(self, derived: list[torch.Tensor], others: list[torch.Tensor]) -> bool:
        """Whether one of ``others`` is D's input, of the shape of one of ``derived``."""
        try:
            shapes = {tuple(t.shape) for t in derived}
            return any(tuple(t.shape) in shapes and self._is_input(t) for t in others)
        except (RuntimeError, NotImplementedError):  # a tensor whose shape cannot be read
            return False

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if untraced(func):
            return result
        leaves = [*_tensors(args), *_tensors(kwargs.values())]
        derived = [t for t in leaves if self._derived.get(id(t)) is t]
        if derived:
            self.ops.add(name)
            if not self.reconstructs and self._inputs:
                others = [t for t in leaves if self._derived.get(id(t)) is not t]
                self.reconstructs = self._compares_input(derived, others)
            for t in _tensors((result,)):
                self._derived[id(t)] = t
        return result

    def remove(self) -> None:
        self._handle.remove()
        self._derived = {}
        self._inputs.clear()


# Autograd nodes that only reshape, select or average what the layer before made: a
# Sigmoid's output stays in (0, 1) through them (a patch D's map averaged per sample).
_SHAPE_NODES = (
    "View",
    "Reshape",
    "UnsafeView",
    "Squeeze",
    "Unsqueeze",
    "Permute",
    "Transpose",
    "Expand",
    "Clone",
    "Select",
    "Slice",
    "Mean",
    "Flatten",
    "ToCopy",
)


def output_head(out: torch.Tensor) -> str | None:
    """The operation that made ``out``, looking through reshapes, selections and means:
    ``"Sigmoid"``, ``"Tanh"``, ``"Addmm"`` (a Linear), ``"Convolution"``, ... from the
    autograd graph; None when ``out`` has none (made without gradients)."""
    node = out.grad_fn
    while node is not None:
        name = type(node).__name__.removesuffix("Backward0").removesuffix("Backward1")
        # "T" is a transpose (TBackward0); a prefix test would also take Tanh for one.
        if name != "T" and not any(name.startswith(s) for s in _SHAPE_NODES):
            return name
        parents = [n for n, _ in node.next_functions if n is not None]
        if len(parents) != 1:
            return name
        node = parents[0]
    return None


def _tensors(values: Any) -> Iterator[torch.Tensor]:
    for v in values:
        if isinstance(v, torch.Tensor):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from _tensors(v)


def read_loss(ops: set[str], reconstructs: bool = False) -> str:
    """``"reconstruction"``, ``"logit"``, ``"softmax"``, ``"probability"``, ``"square"``,
    ``"margin"`` or ``"critic"``: the loss a step applies to D's outputs, told by the
    functions it applies (:class:`LossOps`). ``reconstructs`` (``LossOps.reconstructs``:
    the loss compared D's output with D's input of the same shape) comes first: D is an
    autoencoder, and what the loss does with its reconstruction error (a margin, an
    equilibrium term) says nothing of scores, which it has none of. A softmax's ``exp``
    comes before the ``log`` of its normaliser (Softmax GAN's ``log(sum(exp(-D)))``), which
    is no log of a probability of being real."""
    if reconstructs:
        return "reconstruction"
    if ops & LOGIT_OPS:
        return "logit"
    if ops & SOFTMAX_OPS:
        return "softmax"
    if ops & PROBABILITY_OPS:
        return "probability"
    if ops & SQUARE_OPS:
        return "square"
    if ops & MARGIN_OPS:
        return "margin"
    return "critic"


def _outputs(
    d: nn.Module, batch: tuple[torch.Tensor, Any], target: float | None, layer: str
) -> torch.Tensor | None:
    """``d``'s outputs on ``batch`` with the output of its layer named ``layer``
    (:func:`final_layer`) replaced by ``target`` (None: as it is), leaving no trace on
    ``d``; None when it raises or gives no floating-point tensor."""

    def force(module: nn.Module, inputs: Any, out: Any, value: float = target or 0.0) -> Any:
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            return torch.full_like(out, value)
        return out

    forced = _layer_named(d, layer) if target is not None else None
    handle = forced.register_forward_hook(force) if forced is not None else None
    try:
        with preserved_state(d):
            x, y = batch
            out = call_d_rows(d, x, y)
    except Exception:
        return None
    finally:
        if handle is not None:
            handle.remove()
    score = d_score(out)
    if score is None or not score.is_floating_point() or not score.numel():
        return None
    return score.float()


def forced_outputs(
    discriminator: nn.Module, batch: tuple[torch.Tensor, Any], target: float | None
) -> torch.Tensor | None:
    """D's outputs on ``batch`` (with its labels, when conditional) with its final layer's
    output (:func:`final_layer`) replaced by ``target`` (None: as it is), on a copy of D in
    its own mode; None when D cannot be copied, raises, or gives no floating-point tensor."""
    try:
        d = copy_module(discriminator)
    except Exception:
        return None
    return _outputs(d, batch, target, final_layer(d, batch))


def forced_span(discriminator: nn.Module, batch: tuple[torch.Tensor, Any]) -> list[float] | None:
    """The lowest and highest of D's outputs on ``batch``: as they are, with its final layer
    (:func:`final_layer`) forced to +SATURATED_LOGIT, and forced to -SATURATED_LOGIT; on one
    copy of D in eval mode (dropout off, BatchNorm by its running statistics: a batch of one
    forced value would normalise to the same number in both directions).

    Equal ends mean D's output is one number for every sample and whatever its last layer
    computes: its head discards D's score (a Softmax over a single output is always
    exactly 1). Each condition alone has an innocent cause: a D certain of every held-out
    sample, or a forced layer off the output's path (a label term that runs last and enters
    D's logit through its square).
    None when D could not be copied or run so."""
    try:
        d = copy_module(discriminator).eval()
    except Exception:
        return None
    layer = final_layer(d, batch)
    outs = [_outputs(d, batch, t, layer) for t in (None, SATURATED_LOGIT, -SATURATED_LOGIT)]
    if any(o is None for o in outs):
        return None
    every = torch.cat([o.reshape(-1) for o in outs if o is not None])
    return [float(every.min()), float(every.max())]


def _forcing(target: float) -> Any:
    """A forward hook that forces a layer's output to ``target`` (straight-through: the
    value is forced, the gradient still flows)."""

    def force(module: nn.Module, inputs: Any, out: Any) -> Any:
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return out
        return out + (torch.full_like(out, target) - out).detach()

    return force


def _forced_step(
    step: Any,
    make_context: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    batch: Any,
    layer: str,
    level: float,
) -> dict[str, float]:
    """The losses of the step run once on fresh copies of the networks with D's final
    layer (named ``layer``) forced to ``level``, with the run's random draws; what the
    step raises propagates."""
    g, d = copy.deepcopy(generator), copy_module(discriminator)
    handle = _layer_named(d, layer).register_forward_hook(_forcing(level))
    try:
        with preserved_torch_rng(), eager():
            out = step(make_context(g, d), batch)
    finally:
        handle.remove()
    return {str(k): as_float(v, str(k)) for k, v in out.items()}


#: The two levels the shift test (:func:`shift_invariant`) forces D's final layer to. Any
#: two finite levels would do for a loss that ignores a common shift of D's outputs; these
#: are ones no classifier's loss is blind to (BCE on logits: 1.386 at 0, 4.04 at 4).
SHIFT_LEVELS = (0.0, 4.0)

#: Losses at the two levels that agree to this share of their size (at least 1) are equal.
#: Why here: room for float32 rounding far below the least a classifier's loss differs
#: (0.657, BCE; the Softmax GAN losses measured differ by exactly 0, seeds 0-2, with and
#: without the original's epsilon); calibration: docs/benchmarks.md "Calibration notes".
SHIFT_TOLERANCE = 1e-4


def fragile(results: Mapping[str, Any]) -> bool:
    """Whether the saturation probe's ``results`` (per direction, the losses or the error
    the step raised) hold a non-finite ``d_loss`` or ``g_loss``, or an error the step does
    not raise unsaturated as well."""
    for direction in ("real", "fake"):
        result = results.get(direction) or {}
        if "error" in result and "unsaturated_error" not in result:
            return True
        if any(k in result and not math.isfinite(result[k]) for k in LOSS_KEYS):
            return True
    return False


def same_losses(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool | None:
    """Whether two runs of a loss gave the same finite ``d_loss`` and ``g_loss`` (those of
    the two both hold), to ``SHIFT_TOLERANCE``; None when they share neither."""
    keys = [k for k in LOSS_KEYS if k in a and k in b]
    if not keys:
        return None
    for k in keys:
        x, y = float(a[k]), float(b[k])
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        if abs(x - y) > SHIFT_TOLERANCE * max(1.0, abs(x), abs(y)):
            return False
    return True


def shift_invariant(
    step: Any,
    make_context: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    batch: Any,
    layer: str,
) -> bool | None:
    """Whether the step's losses ignore a common shift of D's outputs: the same with D's
    final layer forced to each of ``SHIFT_LEVELS`` (fresh copies each time, the same
    random draws). A softmax over the batch (Softmax GAN), a relativistic or Wasserstein
    difference ignore it; a classifier's loss never does. For such a loss, D's outputs
    forced all alike to +/-SATURATED_LOGIT are no saturated D (the loss's value there is
    its value at 0), and a loss written as ``log(sum(exp(-D)))`` overflows there at a level
    its gradient never moves D's outputs to. None when the step raises at either level."""
    try:
        found = [
            _forced_step(step, make_context, generator, discriminator, batch, layer, level)
            for level in SHIFT_LEVELS
        ]
    except Exception:
        return None
    return same_losses(*found)


def data_dtype(spec: GANSpec, discriminator: nn.Module, device: torch.device) -> torch.dtype | None:
    """The dtype a run hands D its floating-point samples in: None (as they are) unless D's
    parameters are of another dtype and D refuses the samples as they are (float64 data
    from numpy meeting a float32 D; a D that converts its own input keeps the samples as
    they are). D is run once on two samples, in eval mode, eagerly and without gradients,
    only when the dtypes differ; a lazy D is initialised by it, as by a loop's first batch.
    The global RNG states are left as they were (a Dataset's random transforms draw from
    them)."""
    wanted = floating_dtype(discriminator)
    caller_rng = RNGState.capture()
    try:
        z = torch.zeros(2, *spec.latent_shape, device=device)
        real, _, _, d_extra = dry_inputs(spec, discriminator, z, device)
        if wanted is None or not real.is_floating_point() or real.dtype == wanted:
            return None
        with eval_modes(discriminator), torch.no_grad(), eager():
            discriminator(real, *d_extra)
    except Exception:
        return wanted
    finally:
        caller_rng.restore()
    return None


def saturation_probe(
    step: Any,
    make_context: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    batch: Any,
    d_batch: tuple[torch.Tensor, Any] | None = None,
) -> Saturation:
    """Run the training step once more on copies of the networks whose discriminator is
    forced to saturate, once towards "real" (+SATURATED_LOGIT) and once towards "fake":
    the output of D's final layer (:func:`final_layer`, told by running D on ``d_batch``,
    ``(x, labels)``; by registration order without one) is forced.

    A loss written as ``log(sigmoid(x))`` or ``log(1 - D(G(z)))`` without an epsilon turns
    infinite or NaN there, however finite it stayed in the run. The copies, their fresh
    optimizers and the preserved RNG state leave the run itself untouched. Returns, per
    direction, the losses as floats, or the error the step raised.
    """
    results: dict[str, Any] = {}
    layer = final_layer(discriminator, d_batch)
    for direction, sign in (("real", 1.0), ("fake", -1.0)):
        g, d = copy.deepcopy(generator), copy_module(discriminator)
        handle = _layer_named(d, layer).register_forward_hook(_forcing(sign * SATURATED_LOGIT))
        # What the loss does with D's outputs is the same in both directions: read it once.
        recorder = LossOps(d) if direction == "real" else None
        try:
            with preserved_torch_rng(), eager(), recorder or contextlib.nullcontext():
                out = step(make_context(g, d), batch)
            results[direction] = {str(k): as_float(v, str(k)) for k, v in out.items()}
        except Exception as exc:  # the step's own failure is the finding, if saturation's
            results[direction] = {"error": f"{type(exc).__name__}: {exc}"}
            if "neutral" not in results:
                # A step that raises with D's final layer forced to 0, the least saturated
                # output there is, too, tells nothing of saturation: it cannot run on the
                # probe's copies at all (a step bound to the modules it first saw). A D
                # already saturated by training would make a fragile step raise as it is;
                # forced to 0 it cannot.
                results["neutral"] = None
                try:
                    _forced_step(step, make_context, generator, discriminator, batch, layer, 0.0)
                except Exception as neutral:
                    results["neutral"] = f"{type(neutral).__name__}: {neutral}"
            if results["neutral"] is not None:
                results[direction]["unsaturated_error"] = results["neutral"]
        finally:
            handle.remove()
            if recorder is not None:
                recorder.remove()
        if recorder is not None and "error" in results[direction]:
            # The step raised: what its loss does with D's outputs is not known in full.
            results["d_ops"], results["d_loss_reads"] = sorted(recorder.ops), None
            results["d_output_at_saturation"], results["d_heads"] = math.nan, []
        elif recorder is not None:
            # The step's loss, read from what it does with D's outputs; and what D's output
            # layer makes of a last layer forced to +SATURATED_LOGIT: the logit itself for
            # a linear head, 1 for a Sigmoid.
            results["d_ops"] = sorted(recorder.ops)
            results["d_loss_reads"] = (
                read_loss(recorder.ops, recorder.reconstructs) if recorder.outputs else None
            )
            outs = [o.float() for o in recorder.outputs if o.is_floating_point()]
            results["d_output_at_saturation"] = (
                max(float(o.max()) for o in outs) if outs else math.nan
            )
            results["d_heads"] = sorted(h for h in recorder.heads if h is not None)
    results.pop("neutral", None)
    if fragile(results):
        results["shift_invariant"] = shift_invariant(
            step, make_context, generator, discriminator, batch, layer
        )
    return Saturation(logit=SATURATED_LOGIT, **results)
