"""What a training run is asked to do: ``TrainConfig`` (CC-VAE and the pair baselines), ``DRGANConfig``
(DR-GAN), and named presets over ``TrainConfig``'s defaults (which are the authors' MNIST setting).

Both are plain dataclasses saved as ``train_config.json`` in the run folder and read back by ``--resume``;
``config_from_dict`` refuses unknown names (a typo, a newer version's option).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from core import losses
from core.models import SPLIT_METHODS
from core.models.nets import NETS


@dataclass
class TrainConfig:
    # data
    dataset: str = "mnist"  # mnist | yaleb | orl | celeba | utkface | multipie | sprites | folder (one sub-folder per class)
    data_dir: str = ""  # folder with the data; empty: $CCVAE_DATA_DIR
    image_size: int = 64  # folder datasets: images are resized to this square (28 or 64)
    channels: int = 1  # folder datasets: 1 grayscale, 3 RGB
    download: bool = False  # MNIST: let torchvision download it (needs internet)
    flip: bool = False  # mirror each training image left-right with probability 1/2 (faces: keeps identity)
    factor: str = ""  # the labelled factor where there are several (utkface: age|gender|race; multipie: identity|pose|expression;
    # sprites: identity|action|view|sex|body|armor|hair|arms|greaves|weapon)
    # model
    z_dim: int = 16  # unspecified factors
    s_dim: int = 16  # specified factors
    decoder: str = "plain"  # plain | pixelcnn (PixelVAE: autoregressive decoder, 1-channel images)
    net: str = "conv"  # encoder/decoder family: conv | resnet (64x64 faces: resize-conv decoder, core.models.nets)
    init: str = "authors"  # authors: N(0, 0.05) conv/linear weights, zero biases (their code) | default: PyTorch's
    # optimisation (defaults: the authors' MNIST setting)
    steps: int = 94_000  # iterations; the authors ran 100 epochs of 937 batches
    batch_size: int = 64  # pairs per iteration and process; under torchrun the global batch is this x world size
    lr: float = 1e-4  # Adam learning rate, both optimisers
    beta1: float = 0.9
    beta2: float = 0.999
    lr_drop_at: float = 0.8  # fraction of steps after which lr is multiplied by 0.1 (authors: epoch 80/100)
    reconstruction_weight: float = losses.RECONSTRUCTION_WEIGHT
    kl_weight: float = losses.KL_WEIGHT
    reverse_weight: float = losses.REVERSE_WEIGHT
    reverse_cycle: bool = True  # ccvae: False trains the forward cycle only (few-shot fine-tuning of the s path)
    kl_warmup: int = 0  # steps over which the KL weight moves linearly from kl_start to kl_weight (0: kl_weight throughout)
    kl_start: float = 0.0  # the KL weight at step 0 of the warm-up; above kl_weight it is a cool-down: z starts shut,
    # so the decoder first learns to draw the class from s alone, and z then opens for what s cannot explain
    # method and the report's loss variants (each a switch of the one trainer)
    method: str = "ccvae"  # ccvae | mathieu (Mathieu et al. 2016) | szabo (Szabó et al. 2017)
    reverse_distance: str = "l1"  # ccvae reverse cycle: l1 (paper) | wasserstein (squared W2 of the re-encoded Gaussians)
    reverse_reconstruction_weight: float = 0.0  # ccvae variant (a): > 0 adds |Dec(z(x), s(generated)) - x|^2 to the reverse cycle
    adversarial: str = "none"  # ccvae variant (b): none | decoder | both (which networks the reverse-cycle GAN term trains)
    adversarial_weight: float = 1.0  # weight of the generator term of variant (b)
    z_adversary_weight: float = 0.0  # ccvae: > 0 adds a pair adversary on z (losses.z_discriminator_loss, z_confusion_loss): a network
    # learns whether two z means come from same-label images; the encoder is trained to leave it at chance
    z_adversary_steps: int = 1  # updates of the z discriminator per step (on the step's detached codes: cheap)
    s_contrast_weight: float = 0.0  # ccvae: > 0 adds losses.s_pair_contrast to the forward cycle (same-label pairs'
    # s pulled together, different-label pairs' pushed apart): for data whose label explains few pixels (faces)
    z_independence_weight: float = 0.0  # ccvae: > 0 adds losses.pair_dependence (normalised HSIC) of the z means of
    # each forward-cycle batch's same-label pairs: the class they share is the only thing that can tie them together
    pixel_l1_weight: float = 0.0  # ccvae: > 0 adds the mean absolute pixel error of the forward cycle's decoded images
    # (losses.pixel_l1, issue 31): L1 keeps edges that MSE averages away
    # group-supervised faces (issue 22): make s the only road to the identity
    s_source: str = "pair"  # ccvae forward cycle: pair (the paper: x1 from z1 and s of x2) | group (x from its z and the
    # mean s of group_size other photos of its label, losses.group_cycle_loss) | self (own z and s: the plain-autoencoder
    # ceiling; with kl_weight 0 and reverse_cycle off it is one)
    group_size: int = 3  # s_source group: photos whose mean s decodes each anchor
    z_dropout: float = 0.0  # s_source group/self: probability that an anchor's z is replaced by a prior sample
    s_classifier_weight: float = 0.0  # > 0: a linear head on s learns the training label (cross-entropy, its own weights)
    identity_weight: float = 0.0  # > 0: a frozen identity classifier (identity_classifier) must label Dec(z_b, s_a) as a
    identity_classifier: str = ""  # folder of a classifier from python -m train.classifier, trained on this split
    identity_blur: float = 0.0  # > 0: the identity term's classifier sees Dec(z_b, s_a) through a Gaussian blur of this
    # sigma (pixels), so the decoder gains nothing from fine patterns the classifier alone reads (the coloured speckle
    # of faces-f and faces-g); 0: the render as drawn
    identity_colour_blur: float = 0.0  # > 0: the identity term's classifier sees Dec(z_b, s_a) with its colour
    # (each pixel minus its grey level, losses.blur_colour) blurred by a Gaussian of this sigma (pixels) and its grey
    # as drawn: skin and hair colour still reach the classifier, fine coloured patterns do not, so the decoder gains
    # nothing from drawing them (faces-h's speckle is coloured, 1.8x a photo's colour noise; the whole-image blur of
    # 1 pixel did not cure it, and a grey input leaves the colour-trained classifier at chance)
    patch_weight: float = 0.0  # s_source group/self: > 0 adds a patch adversary on the decoded faces (hinge loss,
    # losses.patch_generator_loss), weighted by this x VQGAN's adaptive weight (the ratio of the reconstruction's and
    # the adversary's gradient norms at the decoder's last layer): the report's adversarial variant, for fine detail
    patch_start: int = 0  # the step the patch adversary starts at (a warm-up on pixels first); a resumed run may add it
    monitor_classifier: str = ""  # a second classifier (another seed, never in a loss) for the logged swap test
    bf16: str = "auto"  # bfloat16 autocast on the CPU: auto (on only where the CPU has native bf16, AVX512-BF16 or AMX:
    # 1.7x there; on an AVX2-only CPU it runs at 0.07x) | on | off. On CUDA it is always on
    # adversarial training (baselines and variant b); defaults: the authors' reimplementations
    gan_beta1: float = 0.5  # Adam beta1 of adversarial optimisers (all optimisers of a baseline)
    generator_times: int = 2  # baselines: generator updates per iteration
    discriminator_times: int = 1  # discriminator updates per iteration
    discriminator_limit: float = 0.8  # skip a discriminator update when its accuracy on the batch is already this high
    collapse_window: int = 2000  # stop if the discriminator wins (>= 99% accuracy) on every step for this many steps
    # the degenerate split (the decoder ignores s, z carries everything): checked at each log step from
    # split_check_after steps on; training stops when s changes the picture less than split_floor x what z changes
    split_floor: float = 0.0  # 0: never stop (the effects are still logged)
    split_check_after: int = 1000
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    compile: bool = False  # torch.compile (inductor) the encoder and decoder: a slow first step (CPU: a C++ compiler)
    channels_last: bool = False  # CPU: images and weights in channels-last memory order (on CUDA it is always on)
    cpu_minutes: float = 0.0  # stop once the training process has used this much CPU time (all its threads; a resumed
    # run counts from where it stopped; 0: steps alone decide): how two recipes get the same CPU time on a shared machine
    # (the plain-autoencoder ceiling of the face model)
    log_every: int = 100  # steps between scalar logs
    image_every: int = 2000  # steps between swap-grid images in TensorBoard
    checkpoint_every: int = 1000  # steps between checkpoints

    def validate(self) -> None:
        for name in ("z_dim", "s_dim", "steps", "batch_size", "log_every", "image_every", "checkpoint_every",
                     "generator_times", "discriminator_times", "collapse_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.lr_drop_at <= 1.0:
            raise ValueError(f"lr_drop_at is a fraction of steps in [0, 1], got {self.lr_drop_at}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; valid: {', '.join(INITS)}")
        choices = {"method": SPLIT_METHODS, "reverse_distance": losses.REVERSE_DISTANCES, "adversarial": ADVERSARIAL}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        if self.method != "ccvae" and (self.adversarial != "none" or self.reverse_distance != "l1"
                                       or self.reverse_reconstruction_weight):
            raise ValueError(f"the loss variants (adversarial, reverse_distance, reverse_reconstruction_weight) are "
                             f"CC-VAE options; method {self.method!r} has no reverse cycle")
        if self.method != "ccvae" and self.decoder != "plain":
            raise ValueError(f"the {self.decoder} decoder is a CC-VAE option; method {self.method!r} uses the plain one")
        used = [name for name in CCVAE_ONLY_WEIGHTS if getattr(self, name)]
        if self.method != "ccvae" and used:
            raise ValueError(f"{', '.join(used)}: CC-VAE options; method {self.method!r} has no z/s terms of its own")
        if self.bf16 not in BF16:
            raise ValueError(f"unknown bf16 {self.bf16!r}; valid: {', '.join(BF16)}")
        if self.net not in NETS:
            raise ValueError(f"unknown net {self.net!r}; valid: {', '.join(NETS)}")
        if self.s_source not in S_SOURCES:
            raise ValueError(f"unknown s_source {self.s_source!r}; valid: {', '.join(S_SOURCES)}")
        if self.method != "ccvae" and (self.s_source != "pair" or self.s_classifier_weight or self.identity_weight):
            raise ValueError("s_source, s_classifier_weight and identity_weight are CC-VAE options")
        if self.group_size < 1 or not 0.0 <= self.z_dropout < 1.0:
            raise ValueError(f"group_size must be >= 1 and z_dropout in [0, 1), got {self.group_size}, {self.z_dropout}")
        if self.patch_weight and (self.method != "ccvae" or self.s_source == "pair"):
            raise ValueError("patch_weight applies to the CC-VAE with s_source group or self")
        if self.patch_weight < 0 or self.patch_start < 0:
            raise ValueError(f"patch_weight and patch_start must be non-negative, got {self.patch_weight}, "
                             f"{self.patch_start}")
        if self.z_dropout and self.s_source == "pair":
            raise ValueError("z_dropout applies to s_source group or self")
        if bool(self.identity_weight) != bool(self.identity_classifier):
            raise ValueError("identity_weight and identity_classifier go together: the weight of the term and the "
                             "classifier folder it uses (python -m train.classifier)")
        for name in ("identity_blur", "identity_colour_blur"):
            if not 0 <= getattr(self, name) <= 8:
                raise ValueError(f"{name} is a Gaussian sigma in pixels, 0 (off) to 8; got {getattr(self, name)}")
        if self.kl_warmup < 0 or self.z_adversary_steps < 1:
            raise ValueError(f"kl_warmup must be >= 0 and z_adversary_steps >= 1, got {self.kl_warmup}, "
                             f"{self.z_adversary_steps}")
        if self.cpu_minutes < 0:
            raise ValueError(f"cpu_minutes must be non-negative, got {self.cpu_minutes}")
        if self.kl_start < 0:
            raise ValueError(f"kl_start must be non-negative, got {self.kl_start}")
        if min(self.reverse_reconstruction_weight, self.adversarial_weight,
               *(getattr(self, name) for name in CCVAE_ONLY_WEIGHTS)) < 0:
            raise ValueError("loss weights must be non-negative")

    @property
    def uses_discriminator(self) -> bool:
        return self.method != "ccvae" or self.adversarial != "none"

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        if isinstance(data.get("bf16"), bool):  # saved before bf16 took auto: true/false meant on/off
            data = data | {"bf16": "on" if data["bf16"] else "off"}
        return config_from_dict(cls, data, what="training options")


# Named recipes: option sets over TrainConfig's defaults (which are the authors' MNIST setting). The command
# line starts new runs from PRESETS[DEFAULT_PRESET]; options given explicitly win. Measured in the README.
PRESETS: dict[str, dict] = {
    # the authors' schedule, for a faithful reproduction: 100 epochs of 937 batches at lr 1e-4 (hours on a CPU)
    "authors": {},
    # issue 16's fast recipe (python -m train.sweep recipes): a short schedule at a higher rate with the pair
    # adversary on z, which keeps the class out of z's posterior mean
    "fast": {"steps": 3000, "lr": 5e-4, "z_adversary_weight": 1.0},
    # the Train-live page: what a class can watch in about 90 s on a laptop CPU (python -m train.live_check); a
    # higher rate than the authors' and a KL warm-up, so z does not collapse before it has learnt any style
    "live": {"steps": 1000, "lr": 5e-4, "kl_warmup": 300},
    # issue 31's CelebA face recipe (README, CelebA): the resnet family (resize-conv decoder), a 256-number code (s 224,
    # z 32), s from the mean of 3 other photos of the person, z replaced by a prior sample half the time, a classifier
    # head on s; bf16 autocast where the CPU has it (the default, auto)
    "faces": {"dataset": "celeba", "channels": 3, "net": "resnet", "z_dim": 32, "s_dim": 224, "lr": 5e-4,
              "lr_drop_at": 0.85, "s_source": "group", "group_size": 3, "z_dropout": 0.5, "s_classifier_weight": 0.3,
              "flip": True, "init": "default", "log_every": 500, "checkpoint_every": 1000, "image_every": 2000},
}
DEFAULT_PRESET = "fast"
LIVE_PRESET = "live"  # what the Train-live page trains


# terms only the CC-VAE has
CCVAE_ONLY_WEIGHTS = ("z_adversary_weight", "z_independence_weight", "s_contrast_weight", "pixel_l1_weight")
CCVAE_ONLY = (*CCVAE_ONLY_WEIGHTS, "z_adversary_steps")  # what a baseline does not take from a preset


def preset_config(name: str, **options) -> TrainConfig:
    """A TrainConfig from a named preset, with ``options`` on top. A baseline (``method`` mathieu or szabo)
    takes the preset's schedule but not its CC-VAE-only switches."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if options.get("method", "ccvae") != "ccvae":
        preset = {k: v for k, v in preset.items() if k not in CCVAE_ONLY}
    return TrainConfig(**(preset | options))


def config_from_dict(cls, data: dict, *, what: str):
    """A config dataclass from saved options; unknown names (a typo, a newer version's option) are refused."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; valid: {sorted(known)}")
    return cls(**data)


INITS = ("default", "authors")
BF16 = ("auto", "on", "off")
S_SOURCES = ("pair", "group", "self")
ADVERSARIAL = ("none", "decoder", "both")


@dataclass
class DRGANConfig:
    # data
    dataset: str = "yaleb"  # yaleb | sprites | multipie | folder (MultiPIE layout: <identity>/<pose>/<expression>/<image>)
    data_dir: str = ""  # folder with the data; empty: $CCVAE_DATA_DIR
    pose_factor: str = ""  # the factor to render at; empty: yaleb lighting (3 light directions), sprites view, multipie pose
    image_size: int = 64  # multipie/folder: images are resized to this square
    channels: int = 1  # multipie/folder: 1 grayscale, 3 RGB
    # model (the paper: f 320, noise 50)
    feature_dim: int = 320  # identity feature f
    noise_dim: int = 50
    # optimisation
    steps: int = 5000
    batch_size: int = 32
    lr: float = 2e-4  # Adam, both networks
    beta1: float = 0.5
    beta2: float = 0.999
    label_smoothing: float = 0.1  # on the real images' targets only
    reconstruction_weight: float = 0.0  # L1 between x and G(x, its own pose, n); 0 is the paper
    # collapse detection
    collapse_window: int = 300  # steps the discriminator must win outright for a collapse; 0: never check
    collapse_g_loss: float = 25.0  # ...while the generator's mean loss over the window is above this
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 500

    def validate(self) -> None:
        for name in ("feature_dim", "noise_dim", "steps", "batch_size", "log_every", "image_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.reconstruction_weight < 0 or self.collapse_window < 0:
            raise ValueError("reconstruction_weight and collapse_window must not be negative")

    @classmethod
    def from_dict(cls, data: dict) -> DRGANConfig:
        return config_from_dict(cls, data, what="DR-GAN training options")


