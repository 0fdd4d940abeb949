"""One view over every form of data a ``GANSpec`` accepts.

A Tensor ``[N, ...]``, a pair ``(x, y)``, a map-style ``Dataset``, an ``IterableDataset``
or a ``DataLoader`` all become a :class:`DataSource` that yields batches in an order decided
by a generator the caller owns (a user's ``DataLoader`` keeps its own order, and draws its
workers' seeds from torch's global RNG as it does in a loop), hands out held-out real
samples for the probes, and infers the range the data lives in. Items may be Tensors or
numpy arrays (as a ``DataLoader``'s default collation takes them); where the discriminator
refuses the samples' floating-point dtype and takes its own, a run hands them over in D's
dtype (float64 arrays from numpy meet a float32 D as float32, as a loop's ``.float()``
makes them: :meth:`DataSource.in_dtype`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from pytest_gan import _defaults
from pytest_gan.rng import RNGState

Batch = tuple[torch.Tensor, torch.Tensor | None]

# Ranges the data is snapped to when ``data_range`` is not given: the conventions of image
# pipelines (tanh generators: [-1, 1]; ToTensor: [0, 1]; raw pixels: [0, 255]). A sample's
# extremes within this slack of a conventional bound count as touching it (uint8 data
# normalised with mean/std 0.5 reaches exactly -1 and 1; float noise may overshoot a hair).
# Narrowest first, so that [0, 1] data is not taken for [-1, 1] data. Data must also span
# at least half of a conventional range to be snapped to it (grid-of-25 toy data spanning
# [-4.2, 4.2] is not 8-bit pixel data).
_CONVENTIONAL_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
RANGE_SLACK = 0.02
_RANGE_MIN_SPAN = 0.5
# Items of a Dataset checked for NaN/inf and inspected to infer its range: enough to see
# the extremes of any realistic image set, cheap for datasets of any size.
_INSPECT_ITEMS = 256


def describe_shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _as_labels(y: Any, argument: str) -> torch.Tensor:
    if isinstance(y, (list, tuple)) and any(isinstance(v, (np.ndarray, np.generic)) for v in y):
        y = np.asarray(y)  # a Dataset's labels as numpy numbers or 0-d arrays
    labels = torch.as_tensor(y)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"{argument} must hold integer class labels; got dtype {labels.dtype}")
    return labels.long()


#: Keys of a dict item (a Hugging Face dataset's ``with_format("torch")``, a dict-returning
#: ``__getitem__``) that hold the sample, and the label, tried in this order.
SAMPLE_KEYS = ("image", "images", "img", "pixel_values", "x", "input", "inputs", "data")
LABEL_KEYS = ("label", "labels", "y", "target", "targets", "class", "class_label")


def _numeric_array(value: Any) -> bool:
    """A numpy array (or numpy scalar) of numbers: what ``default_collate`` turns into a
    Tensor."""
    return isinstance(value, (np.ndarray, np.generic)) and (
        np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_
    )


def _as_sample(value: Any) -> Any:
    """A sample as a Tensor: a Tensor as it is, a numeric numpy array converted (sharing
    its memory, a read-only one's too); anything else unchanged, for the caller to
    refuse."""
    if not _numeric_array(value):
        return value
    with warnings.catch_warnings():
        # Nothing here writes to a sample: a read-only array (memory-mapped, Arrow-backed)
        # is shared as it is, not copied.
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        return torch.as_tensor(value)


def _split_item(item: Any, argument: str) -> tuple[torch.Tensor, Any]:
    item = _as_sample(item)
    if isinstance(item, torch.Tensor):
        return item, None
    if isinstance(item, (tuple, list)) and item:
        first = _as_sample(item[0])
        if isinstance(first, torch.Tensor):
            return first, (item[1] if len(item) > 1 else None)
    if isinstance(item, Mapping):
        return _split_mapping(item, argument)
    raise TypeError(
        f"{argument} must yield Tensors, (Tensor, label) pairs or dicts; got "
        f"{type(item).__name__}"
        + (f" of {type(item[0]).__name__}" if isinstance(item, (tuple, list)) and item else "")
        + " (add transforms.ToTensor() to the dataset?)"
    )


def _split_mapping(item: Mapping[Any, Any], argument: str) -> tuple[torch.Tensor, Any]:
    """The sample and label of a dict item: of :data:`SAMPLE_KEYS`, the first holding a
    floating-point Tensor, else the first holding any Tensor (a pipeline that adds
    normalised ``pixel_values`` beside the stored ``image`` gives the former); and the
    first of :data:`LABEL_KEYS` that holds integer class labels (None when none does: a
    pix2pix ``label`` image, a mask, a class name). Numpy arrays count as Tensors (a Hugging
    Face dataset's ``with_format("numpy")``)."""
    values = {k: _as_sample(item.get(k)) for k in SAMPLE_KEYS}
    tensors = [k for k in SAMPLE_KEYS if isinstance(values[k], torch.Tensor)]
    floats = [k for k in tensors if values[k].is_floating_point()]
    if not tensors:
        raise TypeError(
            f"{argument} yields dicts with keys {sorted(map(str, item))}; the sample must be a "
            f"Tensor under one of {', '.join(SAMPLE_KEYS)} (a Hugging Face dataset: "
            'with_format("torch"))'
        )
    sample = (floats or tensors)[0]
    label = next((k for k in LABEL_KEYS if _class_labels(item.get(k))), None)
    return values[sample], (None if label is None else item[label])


def _class_labels(value: Any) -> bool:
    """Whether ``value`` reads as class labels: an int (not a bool), or an integer Tensor
    or numpy array of one label or one per sample of a batch."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, (torch.Tensor, np.ndarray, np.integer)):
        t = torch.as_tensor(value)
        return t.ndim <= 1 and _is_integer(t)
    return False


def _check_samples(x: torch.Tensor, argument: str, integers: bool = False) -> None:
    if x.ndim < 2:
        raise ValueError(
            f"{argument} must be a batch of samples [N, ...] with at least one feature "
            f"dimension; got shape {describe_shape(x)}"
        )
    if not x.is_floating_point() and not (integers and _is_integer(x)):
        raise ValueError(
            f"{argument} must hold floating-point samples; got dtype {x.dtype} (convert with "
            ".float() and normalise, e.g. x / 127.5 - 1 for 8-bit images)"
        )
    if not _finite(x):
        raise _nonfinite_data(x, argument)


def _indices(idx: torch.Tensor, x: torch.Tensor) -> list[int]:
    """The indices (of ``idx``) of the samples of ``x`` holding NaN or infinite values, the
    first five."""
    bad = ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
    return [int(i) for i in idx[bad.to(idx.device)][:5]]


def _finite(x: torch.Tensor) -> bool:
    return not x.is_floating_point() or bool(torch.isfinite(x).all())


def _nonfinite_data(x: torch.Tensor, argument: str, where: str = "") -> ValueError:
    """The error for samples holding NaN or infinite values: data held whole when the spec
    is made, and a Dataset's or DataLoader's samples as a run draws them (they are
    inspected only in part when the spec is made: the first items, the first batch);
    ``where`` says which of them."""
    count = int((~torch.isfinite(x)).sum())
    return ValueError(
        f"{argument} contains {count} NaN or infinite value(s){where}; a GAN trained on it "
        "can only produce NaN losses: clean or drop those samples first"
    )


def check_varies(source: DataSource) -> None:
    """Refuse data held whole (a Tensor, or the x of a pair) that is one sample repeated: a
    GAN has no distribution to learn from it, and the checks no range or spread to compare
    with. (A batch of one value is a verdict for ``assert_data_normalized``, not an error;
    a Dataset or DataLoader is seen a batch at a time.)"""
    x = source.x
    if x is not None and x.shape[0] >= 2 and bool((x == x[:1]).all()):
        argument = "data" if source.y is None else "data[0] (x)"
        raise ValueError(
            f"{argument} holds {x.shape[0]} copies of one sample: there is no distribution for "
            "a GAN to learn, nor a range or spread for the checks to compare with"
        )


#: Integer dtypes read as numbers (8-bit images as stored, class labels); torch's unsigned
#: 16-64-bit types support too few operations to be read.
_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _is_integer(x: torch.Tensor) -> bool:
    return x.dtype in _INTEGER_DTYPES


class DataSource:
    """Batches, held-out samples and the range of a spec's data. ``integers`` admits
    integer samples (8-bit images as stored) for a look at their range; a spec's data,
    which a network trains on, must be floating point. Samples are handed out in ``dtype``
    (None: as they are; a run's own view, :meth:`in_dtype`, may name its discriminator's).
    ``batch_size`` batches an ``IterableDataset``."""

    def __init__(
        self,
        data: Any,
        *,
        conditional: bool,
        integers: bool = False,
        batch_size: int = _defaults.BATCH_SIZE,
    ) -> None:
        self.conditional = conditional
        self.integers = integers
        self.dtype: torch.dtype | None = None
        self.loader: DataLoader[Any] | None = None
        self.dataset: Dataset[Any] | None = None
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        data = _as_sample(data)
        if not isinstance(data, (torch.Tensor, tuple, list, Dataset, DataLoader)):
            raise TypeError(
                "data must be a Tensor or numpy array [N, ...], a pair (x, y) of them, a "
                f"Dataset, an IterableDataset or a DataLoader; got {type(data).__name__}"
            )
        if isinstance(data, IterableDataset):
            # Its items come one at a time, in its own order: batched as a loop batches
            # them (numpy items collated to Tensors). Its own generator: iterating draws a
            # seed for the workers, which would come from the caller's global RNG.
            data = DataLoader(data, batch_size=batch_size, generator=torch.Generator())
        if isinstance(data, torch.Tensor):
            _check_samples(data, "data", integers)
            self.x = data
        elif isinstance(data, (tuple, list)):
            self._init_pair(data)
        elif isinstance(data, DataLoader):
            self.loader = data
            # Iterating a DataLoader draws its workers' seed from the global RNG: a look at
            # its first batch leaves the caller's state as it was.
            caller_rng = RNGState.capture()
            try:
                first = next(iter(data), None)
            finally:
                caller_rng.restore()
            if first is None:
                raise ValueError("data is a DataLoader that yields no batches")
            x, y = _split_item(first, "data (DataLoader)")
            _check_samples(x, "data (first DataLoader batch)", integers)
            self._first_batch: Batch = (x, None if y is None else _as_labels(y, "data labels"))
        else:
            self._init_dataset(data)
        n = self.size()
        if n is not None and n < 2:
            raise ValueError(f"data must hold at least 2 samples; got {n}")
        if conditional and self.peek(2)[1] is None:
            raise ValueError(
                "num_classes is set but data carries no labels: give (x, y), a Dataset of "
                "(x, y) items, or a DataLoader of (x, y) batches"
            )

    def _init_pair(self, data: tuple[Any, ...] | list[Any]) -> None:
        kind = type(data).__name__
        data = [_as_sample(t) for t in data]
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
            names = [type(t).__name__ for t in data]
            got = (
                f"({', '.join(names)})"
                if len(names) <= 4
                else f"a {kind} of {len(names)} items ({', '.join(sorted(set(names)))})"
            )
            hint = (
                "; stack single samples into one Tensor [N, ...] with torch.stack"
                if len(names) > 2 and all(isinstance(t, torch.Tensor) for t in data)
                else ""
            )
            raise TypeError(
                f"data given as a {kind} must be a pair (x, y) of Tensors; got {got}{hint}"
            )
        x, y = data
        if y.is_floating_point() and y.shape == x.shape:
            # Two samples in a list read as a pair (x, y) whose y holds no labels.
            raise ValueError(
                f"data given as a {kind} of two Tensors of the same shape reads as a pair "
                "(x, y), but data[1] (y) holds floating-point values, not integer labels; "
                "if they are samples, give one Tensor [N, ...]: torch.stack single samples, "
                "torch.cat batches"
            )
        _check_samples(x, "data[0] (x)", self.integers)
        labels = _as_labels(y, "data[1] (y)")
        if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
            raise ValueError(
                f"data[1] (y) must be a 1-D tensor of {x.shape[0]} labels, one per sample; got "
                f"shape {describe_shape(labels)}"
            )
        self.x, self.y = x, labels

    def _init_dataset(self, data: Dataset[Any]) -> None:
        if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
            raise TypeError("data Dataset must be map-style (define __len__ and __getitem__)")
        self.dataset = data
        n = len(data)
        if n == 0:
            raise ValueError("data is an empty Dataset")
        items = [_split_item(data[i], "data (Dataset)") for i in range(min(n, _INSPECT_ITEMS))]
        x = torch.stack([x for x, _ in items])
        _check_samples(x, "data (Dataset items)", self.integers)

    def in_dtype(self, dtype: torch.dtype | None) -> DataSource:
        """This data, its floating-point samples handed out in ``dtype`` (None: as they
        are): a view for one run, sharing everything else, so that one run's choice never
        changes another's samples."""
        if dtype == self.dtype:
            return self
        view = copy.copy(self)
        view.dtype = dtype
        return view

    def _cast(self, x: torch.Tensor) -> torch.Tensor:
        """Floating-point samples in ``dtype``; integer samples as they are."""
        if self.dtype is None or not x.is_floating_point() or x.dtype == self.dtype:
            return x
        return x.to(self.dtype)

    def size(self) -> int | None:
        """Number of samples, or None for a DataLoader (its batches are all we see)."""
        if self.x is not None:
            return int(self.x.shape[0])
        if self.dataset is not None:
            return len(self.dataset)  # type: ignore[arg-type]
        return None

    # -- random access ---------------------------------------------------------------

    def gather(self, idx: torch.Tensor) -> Batch:
        """The samples (and labels) at ``idx``."""
        if self.x is not None:
            return self._cast(self.x[idx]), (self.y[idx] if self.y is not None else None)
        assert self.dataset is not None
        items = [_split_item(self.dataset[int(i)], "data (Dataset)") for i in idx]
        x = torch.stack([t for t, _ in items])
        if not _finite(x):
            raise _nonfinite_data(x, "data (Dataset)", f" in its items {_indices(idx, x)}")
        x = self._cast(x)
        labels = [y for _, y in items]
        if any(y is None for y in labels):
            return x, None
        return x, _as_labels(labels, "data labels")

    def _loader_stream(self) -> Iterator[Batch]:
        assert self.loader is not None
        while True:
            produced = False
            for item in self.loader:
                x, y = _split_item(item, "data (DataLoader)")
                if x.shape[0] < 2:
                    continue
                if not _finite(x):
                    raise _nonfinite_data(x, "data (DataLoader)", " in a batch it yielded")
                x = self._cast(x)
                produced = True
                yield x, (None if y is None else _as_labels(y, "data labels"))
            if not produced:
                raise ValueError("data DataLoader yields no batch of at least 2 samples")

    def _take_from_loader(self, n: int) -> Batch:
        xs: list[torch.Tensor] = []
        ys: list[torch.Tensor | None] = []
        got = 0
        for x, y in self._loader_stream():
            xs.append(x)
            ys.append(y)
            got += x.shape[0]
            if got >= n:
                break
        x = torch.cat(xs)[:n]
        if any(y is None for y in ys):
            return x, None
        return x, torch.cat([y for y in ys if y is not None])[:n]

    def peek(self, n: int) -> Batch:
        """The first ``n`` samples, deterministically (for validation)."""
        if self.loader is not None:
            x, y = self._first_batch
            return self._cast(x[:n]), (None if y is None else y[:n])
        size = self.size()
        assert size is not None
        return self.gather(torch.arange(min(n, size)))

    def check_labels(self, num_classes: int) -> None:
        _, labels = self.peek(_INSPECT_ITEMS) if self.y is None else (None, self.y)
        if labels is None:
            return
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(
                f"data labels must lie in [0, num_classes={num_classes}); found labels in "
                f"[{int(labels.min())}, {int(labels.max())}]"
            )

    # -- what training and the probes use --------------------------------------------

    def split(self, generator: torch.Generator) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Training indices and held-out indices (``None``: every sample / no holdout)."""
        size = self.size()
        if size is None:
            return None, None
        held = holdout_size(size)
        if held == 0:
            return None, None
        perm = torch.randperm(size, generator=generator)
        return perm[held:], perm[:held]

    def holdout_batch(
        self, holdout: torch.Tensor | None, n: int, generator: torch.Generator
    ) -> tuple[Batch, bool]:
        """Real samples for the probes, and whether they were held out of training."""
        if holdout is not None:
            return self.gather(holdout[:n]), True
        if self.loader is not None:
            return self._take_from_loader(n), False
        size = self.size()
        assert size is not None
        return self.gather(torch.randperm(size, generator=generator)[:n]), False

    def step_sized(self, batch_size: int, train_idx: torch.Tensor | None) -> Batch:
        """Training samples as many as a training step gets (what :meth:`batches` yields):
        the first ``batch_size`` of ``train_idx`` (all of them when fewer), or a
        DataLoader's first batch as it comes. A step that sizes its labels or z by a fixed
        batch size of its own, as much public code does, runs on it as in training."""
        if self.loader is not None:
            x, y = self._first_batch
            return self._cast(x), y
        pool = train_idx if train_idx is not None else torch.arange(self.size() or 0)
        return self.gather(pool[: min(batch_size, pool.shape[0])])

    def batches(
        self, batch_size: int, train_idx: torch.Tensor | None, generator: torch.Generator
    ) -> Iterator[Batch]:
        """An endless stream of training batches in an order drawn from ``generator``."""
        if self.loader is not None:
            yield from self._loader_stream()
            return
        pool = train_idx if train_idx is not None else torch.arange(self.size() or 0)
        size = pool.shape[0]
        # Short datasets would otherwise give one ragged batch an epoch; keep batches full
        # (BatchNorm statistics depend on the batch size) unless the data is smaller.
        bs = min(batch_size, size)
        while True:
            order = pool[torch.randperm(size, generator=generator)]
            for start in range(0, size - bs + 1, bs):
                yield self.gather(order[start : start + bs])

    def real(self, n: int, generator: torch.Generator) -> Batch:
        """``n`` distinct real samples drawn with ``generator``."""
        size = self.size()
        if self.loader is not None:
            return self._take_from_loader(n)
        assert size is not None
        if n > size:
            raise ValueError(f"n must be at most the number of real samples ({size}); got {n}")
        return self.gather(torch.randperm(size, generator=generator)[:n])

    def extremes(self) -> tuple[float, float]:
        """The data's smallest and largest value (a Tensor's exactly; a Dataset's over its
        first items, a DataLoader's over its first batch)."""
        if self.x is not None:
            lo_t, hi_t = torch.aminmax(self.x)
            return float(lo_t), float(hi_t)
        x, _ = self.peek(_INSPECT_ITEMS) if self.loader is None else self._first_batch
        return float(x.min()), float(x.max())

    def infer_range(self) -> tuple[float, float]:
        """The range the data is meant to live in, snapped to a convention when it fits."""
        return snap_range(*self.extremes())


def holdout_size(size: int) -> int:
    """How many of ``size`` samples are held out of training for the probes (0: none)."""
    if size - _defaults.HOLDOUT >= _defaults.HOLDOUT_MIN_TRAIN:
        return _defaults.HOLDOUT
    held = size // _defaults.HOLDOUT_SHARE
    return held if held >= _defaults.HOLDOUT_MIN else 0


def snap_range(lo: float, hi: float) -> tuple[float, float]:
    """The narrowest conventional range holding ``[lo, hi]``, else ``(lo, hi)`` itself."""
    for c_lo, c_hi in _CONVENTIONAL_RANGES:
        width = c_hi - c_lo
        slack = RANGE_SLACK * width
        if lo >= c_lo - slack and hi <= c_hi + slack and hi - lo >= _RANGE_MIN_SPAN * width:
            return (c_lo, c_hi)
    return (lo, hi)
