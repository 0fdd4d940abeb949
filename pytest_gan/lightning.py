"""``GANWatch``: ``pg.watch`` as a Lightning Callback, for manual-optimisation GAN modules.

    from pytest_gan.lightning import GANWatch

    watch = GANWatch(data=real_images, latent_dim=100)
    trainer = L.Trainer(callbacks=[watch], max_epochs=1, limit_train_batches=200)
    trainer.fit(model)
    pg.assert_losses_balanced(watch.run)

The official Lightning GAN (``automatic_optimization = False``, two optimizers, each step
between ``toggle_optimizer`` and ``untoggle_optimizer``) is watched as ``pg.watch`` watches a
plain loop: the networks are the module's ``generator`` and ``discriminator`` attributes,
the optimizers the trainer's, in the order ``configure_optimizers`` returns them (G's first
unless ``g_optimizer=1``), and the losses what the module logs under ``d_loss`` and
``g_loss``. A step is one update of G, whatever ``trainer.global_step`` says (Lightning
counts every optimizer's step there). ``toggle_optimizer`` sets ``requires_grad`` off on the
other network's parameters while one steps: the hooks are attached before the first
toggle and stay on every parameter.

Needs ``pytorch-lightning`` (``pip install pytest-gan[lightning]``), or the ``lightning``
package; ``pytest_gan`` itself and the plugin import without either.
"""

from __future__ import annotations

from typing import Any

from pytest_gan import _defaults
from pytest_gan.watched_run import WatchedRun
from pytest_gan.watching import Watch

try:
    import pytorch_lightning as _pl
except ImportError:  # pragma: no cover - depends on what is installed
    try:
        import lightning.pytorch as _pl  # type: ignore[no-redef,import-not-found]
    except ImportError as exc:
        raise ImportError(
            "pytest_gan.lightning needs Lightning: pip install 'pytest-gan[lightning]' "
            "(or install pytorch-lightning yourself)"
        ) from exc

Callback: Any = _pl.Callback


def _attribute(module: Any, name: object, argument: str) -> Any:
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be an attribute name (str); got {type(name).__name__}")
    if not hasattr(module, name):
        raise ValueError(
            f"{argument}={name!r}: the LightningModule {type(module).__name__} has no attribute "
            f"{name!r}; pass {argument}= the name of the attribute holding that network"
        )
    return getattr(module, name)


class GANWatch(Callback):  # type: ignore[misc]
    """A Callback that records a :class:`pytest_gan.WatchedRun` of ``trainer.fit``.

    ``data``, ``latent_dim``, ``num_classes``, ``loss``, ``name``, ``holdout`` and
    ``seed`` mean what they mean for ``pg.watch``. ``generator`` and ``discriminator``
    name the module's attributes holding the networks; ``g_optimizer`` is the index of G's
    optimizer among those ``configure_optimizers`` returns (D's is the other);
    ``d_loss`` and ``g_loss`` are the keys the module logs its losses under. After
    ``fit``, :attr:`run` is the run, complete when training ended normally.
    """

    def __init__(
        self,
        *,
        data: Any,
        latent_dim: int | tuple[int, ...],
        num_classes: int | None = None,
        loss: str | None = None,
        name: str | None = None,
        holdout: Any = None,
        seed: int = _defaults.SEED,
        generator: str = "generator",
        discriminator: str = "discriminator",
        g_optimizer: int = 0,
        d_loss: str = "d_loss",
        g_loss: str = "g_loss",
    ) -> None:
        super().__init__()
        if type(g_optimizer) is not int or g_optimizer not in (0, 1):
            raise ValueError(f"g_optimizer must be 0 or 1; got {g_optimizer!r}")
        for argument, value in (
            ("generator", generator),
            ("discriminator", discriminator),
            ("d_loss", d_loss),
            ("g_loss", g_loss),
        ):
            if not isinstance(value, str):
                raise TypeError(f"{argument} must be a str; got {type(value).__name__}")
        self.kwargs = dict(
            data=data,
            latent_dim=latent_dim,
            num_classes=num_classes,
            loss=loss,
            name=name,
            holdout=holdout,
            seed=seed,
        )
        self.names = (generator, discriminator)
        self.g_optimizer = g_optimizer
        self.keys = (d_loss, g_loss)
        self.run: WatchedRun | None = None
        self._watch: Watch | None = None
        self._batch_first_step = 0

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        optimizers = list(trainer.optimizers)
        if len(optimizers) != 2:
            raise ValueError(
                f"GANWatch needs a module whose configure_optimizers returns two optimizers "
                f"(G's and D's); {type(pl_module).__name__} has {len(optimizers)}"
            )
        g = _attribute(pl_module, self.names[0], "generator")
        d = _attribute(pl_module, self.names[1], "discriminator")
        opt_g, opt_d = optimizers[self.g_optimizer], optimizers[1 - self.g_optimizer]
        kwargs = dict(self.kwargs)
        kwargs["name"] = kwargs["name"] or type(pl_module).__name__
        self._watch = Watch(g, d, opt_g, opt_d, **kwargs)
        self.run = self._watch.start()

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.run is not None:
            self._batch_first_step = self.run.steps

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        run = self.run
        if run is None or self._watch is None:
            return
        metrics = trainer.callback_metrics
        logged = {}
        for key, target in zip(self.keys, ("d_loss", "g_loss"), strict=True):
            value = metrics.get(key)
            if value is not None:
                logged[target] = float(value)
        recorder = run._recorder
        if logged and recorder is not None:
            # The losses of this batch belong to its G update, wherever its step's row is
            # by now (in the tutorial's order, D's step has closed it already).
            recorder.log_at(self._batch_first_step, logged)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._watch is not None and self._watch._recorder is not None:
            self.run = self._watch.stop()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self._watch is not None and self._watch._recorder is not None:
            self.run = self._watch.stop(failed=True)
