"""The pitfall catalog: every failure pytest-gan diagnoses, by id.

``PITFALLS[id]`` has the title, the symptom a user sees, the check that catches it, why
it matters, the fix, and the page of the docs that shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Pitfall:
    id: str
    title: str
    symptom: str
    check: str
    why: str
    fix: str

    @property
    def doc(self) -> str:
        return f"docs/pitfalls/{self.id}.md"


_ENTRIES = (
    Pitfall(
        "blank-output",
        "the generator produces blank images",
        "Samples are flat: one grey, black or white level, little variation within or "
        "between images, while the losses may look healthy.",
        "assert_not_blank",
        "Blank samples mean the generator cannot, or does not, produce the data at its "
        "scale: more steps will not help while the cause stays.",
        "Scale the data to the generator's output range (ToTensor() then Normalize((0.5,), "
        "(0.5,)) for Tanh), match the final activation to the data, and fix NaN losses "
        "first.",
    ),
    Pitfall(
        "mode-collapse",
        "the generator covers only part of the data",
        "Different z give nearly the same sample, or samples cluster on a few of the "
        "data's modes; precision stays high while coverage falls.",
        "assert_diverse",
        "A collapsed generator fools the discriminator with a few outputs; the samples "
        "look plausible one by one and the failure hides in aggregate.",
        "Do not train the generator several times per discriminator step; lower the "
        "generator's learning rate; consider spectral normalisation or minibatch statistics.",
    ),
    Pitfall(
        "non-finite-loss",
        "a loss turns NaN or infinite",
        "d_loss or g_loss becomes NaN/inf, immediately or once the discriminator saturates.",
        "assert_losses_finite",
        "Once a loss is NaN every weight it touches becomes NaN and the run is lost; a "
        "hand-written log loss does this only late, when D is confident, so short runs "
        "miss it.",
        "Compute the loss on logits: nn.BCEWithLogitsLoss, or F.softplus(-x) for "
        "-log(sigmoid(x)); drop the final Sigmoid from D, or clamp with an epsilon.",
    ),
    Pitfall(
        "discriminator-overpowers",
        "the discriminator overpowers the generator",
        "D separates real from fake perfectly and is certain about the fakes, late in the "
        "run, while G's samples have come little nearer the data: G's loss has climbed and "
        "its signal has died; or a hinge D has won outright, "
        "its loss exactly 0 and its gradient with it, so it stopped learning.",
        "assert_losses_balanced",
        "A near-optimal D gives the generator vanishing gradients (Arjovsky & Bottou "
        "2017): the generator stops improving, often ending blank or noisy.",
        "Give D fewer or smaller steps (one D step per G step for BCE; lower D's learning "
        "rate, or raise G's), or regularise D (spectral normalisation, R1, label "
        "smoothing on reals).",
    ),
    Pitfall(
        "discriminator-too-weak",
        "the discriminator learns too slowly",
        "G fools D: late in the run D scores the generated samples as more real than the "
        "real ones, D's loss above chance, G's below; a penalised critic's slope stays far "
        "below the 1 its gradient penalty aims at; D's optimizer moves it far more slowly "
        "than G's moves G.",
        "assert_losses_balanced",
        "The generator only learns what D tells it: a D it can fool teaches nothing.",
        "Raise D's learning rate (check for a typo such as 2e-6 for 2e-4) or its capacity.",
    ),
    Pitfall(
        "discriminator-overfits",
        "the discriminator memorises its small training set",
        "D scores the real samples it trained on as real and real samples it never saw "
        "more like fakes; the samples drift towards copies of a few training images, or "
        "stop improving, while D's loss keeps falling.",
        "assert_d_generalizes",
        "An overfitting D judges membership of its training set, not realism: its feedback "
        "no longer tells G how to look like the data, only how to look like those samples.",
        "Train on more data (a subset taken for a quick test is the usual cause); otherwise "
        "augment what D sees, real and fake alike (DiffAugment, ADA), add an R1 penalty or "
        "spectral normalisation to D, or give D less capacity or a lower learning rate.",
    ),
    Pitfall(
        "output-range-mismatch",
        "the generator's output range does not match the data's",
        "Samples live in [0, 1] while the data spans [-1, 1] (a Sigmoid where Tanh "
        "belongs), or the other way round; images look washed out or low-contrast.",
        "assert_output_range_matches_data",
        "The generator cannot reach part of the data's range, so D separates real from "
        "fake on range alone and the generator can never catch up.",
        "Use a final activation that spans the data: Tanh for [-1, 1] data, Sigmoid for "
        "[0, 1]; or normalise the data to the generator's range.",
    ),
    Pitfall(
        "data-not-normalized",
        "the data is not normalised",
        "Real samples span [0, 1] or [0, 255] while a Tanh generator produces [-1, 1].",
        "assert_data_normalized",
        "Unnormalised data puts part of it out of the generator's reach and makes D's "
        "job trivial; large raw values also destabilise the first layers.",
        "Normalise: transforms.Normalize((0.5,) * channels, (0.5,) * channels) after "
        "ToTensor(), or x / 127.5 - 1 for 8-bit pixels.",
    ),
    Pitfall(
        "d-step-leaks-into-generator",
        "the discriminator's step writes gradient into the generator (missing .detach())",
        "During D's update, generator parameters receive gradient from D's loss.",
        "assert_d_step_isolated",
        "Without .detach() D's backward runs through G: wasted work at best; where "
        "zero_grad is placed so that the leaked gradient survives, G is pushed to make "
        "its fakes look more fake.",
        "Feed D fake.detach() (or generate the fakes under torch.no_grad()) in D's step.",
    ),
    Pitfall(
        "gradient-accumulation",
        "gradients accumulate across steps (missing zero_grad)",
        "An optimizer steps with gradients that were not reset since its previous step.",
        "assert_gradients_zeroed",
        "Stale gradients add every earlier step's (and the other network's) gradient to "
        "the update: effective learning rates grow without bound and training diverges.",
        "Call opt.zero_grad() (or model.zero_grad()) before each backward pass whose "
        "gradients that optimizer will use.",
    ),
    Pitfall(
        "optimizer-misses-parameters",
        "an optimizer does not cover the network it should train",
        "Trainable parameters of G or D are in no optimizer, or an optimizer was built "
        "over the other network's parameters.",
        "assert_optimizers_cover",
        "Parameters in no optimizer never change; an optimizer over the wrong network "
        "trains that network twice and the intended one not at all.",
        "Build opt_g over G.parameters() and opt_d over D.parameters(); include every "
        "trainable submodule (check parameters created after the optimizer).",
    ),
    Pitfall(
        "generator-not-learning",
        "the generator does not learn",
        "The generator's samples stay where its initialisation put them: no updates, or "
        "updates that do not bring it closer to the data.",
        "assert_generator_learns",
        "Everything downstream (saved checkpoints, samples) is initial noise, whatever "
        "the losses say.",
        "Make sure G's loss reaches G: do not detach the fakes in the generator's step, "
        "step opt_g, and check its learning rate.",
    ),
    Pitfall(
        "conditioning-ignored",
        "the conditional generator ignores its labels",
        "Samples for different labels are indistinguishable.",
        "assert_conditioning_effective",
        "A conditional GAN whose labels do nothing is an unconditional GAN with a "
        "misleading interface.",
        "Show D the same labels that G was given for the fakes; check that the label "
        "embedding reaches both networks.",
    ),
    Pitfall(
        "discriminator-not-lipschitz",
        "the critic is not Lipschitz-constrained",
        "The critic's gradient norms at points between real and fake samples are far "
        "above 1 despite a gradient penalty or spectral normalisation.",
        "assert_lipschitz",
        "A WGAN critic without its Lipschitz constraint no longer estimates the "
        "Wasserstein distance; its gradients explode and training destabilises.",
        "Compute the penalty's gradient with create_graph=True so that it reaches D; "
        "apply spectral normalisation to every layer.",
    ),
    Pitfall(
        "discriminator-wrong-activation",
        "the discriminator's final activation does not fit its loss",
        "D ends in a Sigmoid (or Tanh) while its loss reads logits (BCEWithLogitsLoss), "
        "hinge margins or critic scores: D's loss stalls near 1.0, it never becomes "
        "confident, and the samples improve slowly or not at all. Or D ends in a Softmax "
        "over its one output, which is 1 whatever D computes: nothing learns.",
        "assert_d_output_fits_loss",
        "A squashed logit caps D's belief between 0.5 and 0.73 (and a hinge or Wasserstein "
        "score within a unit range): D's feedback to G is distorted from the first step; a "
        "head that discards D's score gives no feedback at all.",
        "Drop the final Sigmoid (or Softmax) and keep the logits loss (numerically safer), "
        "or end in a Sigmoid and use BCELoss; hinge and Wasserstein critics end in a plain "
        "linear layer.",
    ),
    Pitfall(
        "checkpoint-roundtrip-mismatch",
        "a saved and reloaded generator does not reproduce the trained one",
        "The same z gives different samples after save and load, or the checkpoint does "
        "not load back: missing buffers, 'module.' prefixes, keys silently skipped by "
        "strict=False, a whole pickled module that torch.load(weights_only=True) refuses.",
        "assert_checkpoint_roundtrip",
        "The model that ships is not the model that was tested.",
        "Save model.state_dict() (it includes buffers and loads with weights_only=True), "
        "strip 'module.' from DataParallel keys, and load with strict=True into the same "
        "architecture, with map_location for the device it will run on.",
    ),
    Pitfall(
        "checkpoint-not-trained",
        "the checkpoint holds an untrained generator",
        "The reloaded generator behaves like a freshly initialised one: the saved model "
        "produces noise.",
        "assert_checkpoint_roundtrip",
        "Training was wasted if what was saved is an initialisation.",
        "Save the trained instance (not a newly built one, not a copy taken before "
        "training), after training.",
    ),
    Pitfall(
        "baseline-regression",
        "the run moved out of its stored baseline",
        "A figure of this run (loss, D accuracy, diversity, distance to data) left the "
        "band measured over seeds for its baseline.",
        "assert_matches_baseline",
        "A change made the GAN train differently from its recorded healthy behaviour.",
        "Find the change that moved the figure; update the baseline only on purpose.",
    ),
)

#: Every pitfall id, mapped to its catalog entry (read-only).
PITFALLS: Mapping[str, Pitfall] = MappingProxyType({p.id: p for p in _ENTRIES})
