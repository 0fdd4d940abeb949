"""Every default of pytest-gan, in one place.

The public API, the plugin's options, the fixtures and the docs all read these names;
change a default here and it changes everywhere.
"""

from __future__ import annotations

#: Training steps of a run when none are given (``train``, ``--gan-steps``, ``gan_train``).
#: 200 steps is long enough for every reference GAN in ``fixtures/`` to move measurably
#: away from its initialisation on 2 CPU cores within seconds.
STEPS = 200

#: The steps at which the balance verdict's thresholds were measured (the default
#: ``STEPS``). A run asked for fewer that fails it is trained on, where it may be, to at
#: least this many before that verdict is taken (``pytest_gan.deciding.FLOORED``).
#: Why here: below it healthy GANs failed balance (scenes-dcgan at 30-60 steps under the single
#: belief limit; a watched loop at 40) and passed from 100; calibration: docs/benchmarks.md
#: "Calibration notes".
CALIBRATED_STEPS = 200

#: A run whose statistical verdict may only be premature is trained on, its steps doubled,
#: up to this many times its first steps unconditionally (``pytest_gan.deciding``).
#: Why here: the healthy WGAN-GP of the wild corpus passes by 4x, blank twins stay 10x
#: below; calibration: docs/benchmarks.md "Calibration notes".
EXTEND_FACTOR = 4

#: ... and beyond that, up to this many times, only while its samples still approach the
#: data (``deciding.MIN_PROGRESS``). The smoke suite's default budget (``--gan-max-steps``).
#: Why here: the slowest healthy GAN, the clipped WGAN, passes by 16x; calibration:
#: docs/benchmarks.md "Calibration notes".
MAX_EXTEND_FACTOR = 16

#: Seed of a run when none is given (``train``, ``--gan-seed``).
SEED = 0

#: Device of a run when none is given: ``None`` means CUDA when available, else CPU.
DEVICE: str | None = None

#: Batch size of a ``GANSpec`` when none is given (DCGAN's 64).
BATCH_SIZE = 64

#: Default optimiser: Adam with DCGAN's settings (Radford et al. 2016) for both networks.
LR = 2e-4
BETAS = (0.5, 0.999)

#: Gradient-penalty weight of the built-in ``wgan-gp`` loss (Gulrajani et al. 2017).
GP_LAMBDA = 10.0

#: Built-in losses a ``GANSpec`` may name.
LOSSES = ("bce", "hinge", "wgan-gp", "lsgan")

#: At most this many probes per run (plus one before the first step and one after the
#: last), spread evenly over the steps, so that a long run keeps a bounded number of probe
#: records and fixed-z sample snapshots. A probe costs about half a training step on the
#: reference DCGAN; 10 keep the whole instrumentation within its 5% budget (40 probes
#: alone cost 5.7% of a 200-step run; see docs/benchmarks.md).
MAX_PROBES = 10

#: Samples the probes use: held-out real samples and fresh fakes shown to D, and the
#: fixed-z batch whose samples are kept. One DCGAN batch: D sees batches of this size in
#: training, so BatchNorm statistics in train mode behave as they do there.
PROBE_BATCH = 64

#: The optimizer norms (``g_grad_norm``, ``g_update_norm``, ``g_update_ratio`` and D's) are
#: read on every NORM_EVERY-th training step, from each network's first update in it, NaN
#: between (a network not stepped on that step is read on the next step it takes). Read on
#: every step they cost 4%
#: of a 200-step run of the reference DCGAN at batch 32 (a copy of the weights per optimizer
#: step); one step in 8 leaves 0.5% and 25 readings per 200 steps. One verdict reads them,
#: exactly: assert_generator_learns fails a generator whose every G gradient reading (at
#: least two) is exactly 0; otherwise they are evidence text. A power of two keeps them on
#: every row of a history thinned to every 8th step or coarser. Measured in docs/benchmarks.md.
NORM_EVERY = 8

#: Fixed-z samples kept per probe (a small grid's worth; bounded memory).
PROBE_KEEP = 16

#: Real samples set aside from training for the probes: ``HOLDOUT`` when setting them
#: aside leaves ``HOLDOUT_MIN_TRAIN`` samples; from smaller data, one sample in
#: ``HOLDOUT_SHARE``, if that makes at least ``HOLDOUT_MIN`` (D's scores on samples it never
#: trained on are what shows it overfitting small data; data smaller than that is not split).
HOLDOUT = 256
HOLDOUT_MIN_TRAIN = 512
#: A quarter: the most taken from a small training set for a figure whose noise is still
#: usable; 16 held out against 48 trained on give the train/held-out AUC a standard error of
#: 0.084 at chance, against which ``checks.overfitting.MAX_TRAIN_AUC`` (0.7) was set; fewer
#: would put chance within two of them of the threshold. docs/benchmarks.md
#: "Discriminator overfitting".
HOLDOUT_SHARE = 4
HOLDOUT_MIN = 16

#: Per-step history rows kept before the history thins itself (every other row dropped,
#: stride doubled): bounded memory for runs of any length.
HISTORY_CAPACITY = 20_000

#: Training runs ``gan_train`` keeps for reuse within a pytest session (least recently
#: used are dropped first).
RUN_CACHE_SIZE = 8

#: Seeds a regression baseline is measured on when neither ``--gan-baseline-seeds`` nor
#: ``seeds=`` says: the run under test and the next four. An update then costs four
#: trainings beyond the run itself. Measured with benchmarks/baseline_calibration.py on
#: shapes-dcgan at 200 steps and batch 64: nine baselines of 5 seeds each passed all 20
#: healthy re-runs on other seeds and failed all 20 runs of the learning rate 100x too
#: small; at batch 32, 178 of 180 healthy re-runs passed (docs/baselines.md).
BASELINE_SEEDS = 5

#: Fewest seeds a baseline may be measured on. On three the band is 36 spreads wide
#: (``baseline.band_factor``): in the same measurement one baseline of fifteen let 17 of
#: the 20 regressed runs pass (at batch 32, six of fifteen let most or all pass). On four
#: (14 spreads) all eleven caught all 20, at either batch size.
BASELINE_MIN_SEEDS = 4
