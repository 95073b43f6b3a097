"""Convert the authors' published MNIST checkpoints (legacy torch pickles) into our format.

    python -m train.import_reference --reference-dir ../shared/reference --out runs/authors
        # all three: <out>/authors-ccvae, <out>/authors-mathieu, <out>/authors-szabo
    python -m train.import_reference --encoder REF/checkpoints/encoder --decoder REF/checkpoints/decoder \\
        --out runs/authors-ccvae [--method ccvae|mathieu|szabo]    # one pair of files (method guessed from keys)

Sources (MIT licence, Ananya Harsh Jha): github.com/ananyahjha93/cycle-consistent-vae (CC-VAE),
.../disentangling-factors-of-variation-using-adversarial-training (their Mathieu et al. 2016) and
.../challenges-in-disentangling (their Szabó et al. 2017), each with ``checkpoints/{encoder,decoder}``.
Their discriminators are not converted: evaluation and the app never need them.

TRUSTED INPUT ONLY. This is the one place where a pickle is read, and only when you run it. The files
are opened with ``torch.load(weights_only=True)``, PyTorch's restricted unpickler that accepts tensors
and plain containers and refuses anything that would run code; still, convert only files whose origin
you trust (here: github.com/ananyahjha93/cycle-consistent-vae, MIT licence). The output is safetensors
+ JSON, like every checkpoint the app and the evaluator open. Converted files are for your machine:
do not commit them.

Key names differ per repository (and, for the CC-VAE, from its own ``networks.py``): z is
``varying_factor_*`` / ``style_*`` / ``fully_connected_varying_factor``, s is ``common_factor`` /
``class_*`` / ``fully_connected_common_factor``. Their instance-norm running statistics are dropped
(our norms use per-image statistics, which is what their training computed).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import torch

from core.checkpoint import save_checkpoint
from core.models import ModelConfig, build_model
from train.cli import command_parser

KEYS = {  # method -> (our encoder head -> theirs, our decoder input -> theirs)
    "ccvae": ({"z_mu": "varying_factor_mu", "z_logvar": "varying_factor_logvar", "s": "common_factor"},
              {"z_in": "varying_factor", "s_in": "common_factor"}),
    "mathieu": ({"z_mu": "style_mu", "z_logvar": "style_logvar", "s": "class_output"},
                {"z_in": "style_input", "s_in": "class_input"}),
    "szabo": ({"z_mu": "fully_connected_varying_factor", "s": "fully_connected_common_factor"},
              {"z_in": "fully_connected_varying_factor", "s_in": "fully_connected_common_factor"}),
}
REPOSITORIES = {"ccvae": "cycle-consistent-vae", "mathieu": "disentangling-factors-of-variation-using-adversarial-training",
                "szabo": "challenges-in-disentangling"}
LAYERS = ((1, 0), (2, 3), (3, 6))  # their conv/deconv number -> index in our nn.Sequential


def guess_method(encoder: dict[str, torch.Tensor]) -> str:
    """Which repository an encoder state dict comes from, by its head names."""
    for method, (heads, _) in KEYS.items():
        if all(f"{theirs}.weight" in encoder for theirs in heads.values()):
            return method
    raise KeyError(f"unrecognised encoder keys {sorted(encoder)[:8]}...; expected the heads of one of {sorted(KEYS)}")


def convert(encoder: dict[str, torch.Tensor], decoder: dict[str, torch.Tensor], method: str = "ccvae"
            ) -> dict[str, torch.Tensor]:
    """The authors' two state dicts -> our state dict for ``method`` (28x28x1; z and s sizes from the tensors)."""
    heads, inputs = KEYS[method]
    out = {}
    for theirs, ours in LAYERS:
        for p in ("weight", "bias"):
            out[f"encoder.trunk.{ours}.{p}"] = encoder[f"conv_model.convolution_{theirs}.{p}"]
            out[f"decoder.head.{ours}.{p}"] = decoder[f"deconv_model.deconvolution_{theirs}.{p}"]
    for p in ("weight", "bias"):
        out.update({f"encoder.{ours}.{p}": encoder[f"{theirs}.{p}"] for ours, theirs in heads.items()})
        out.update({f"decoder.{ours}.{p}": decoder[f"{theirs}.{p}"] for ours, theirs in inputs.items()})
    return out


def import_pair(encoder_file: Path, decoder_file: Path, out: Path, *, method: str | None, steps: int) -> Path:
    """Convert one encoder/decoder pair and write it as a checkpoint folder (trusted files only)."""
    encoder, decoder = (torch.load(p, map_location="cpu", weights_only=True) for p in (encoder_file, decoder_file))
    method = method or guess_method(encoder)
    state = convert(encoder, decoder, method)
    z_dim, s_dim = state["encoder.z_mu.weight"].shape[0], state["encoder.s.weight"].shape[0]
    model = build_model(ModelConfig(method=method, z_dim=z_dim, s_dim=s_dim, dataset="mnist",
                                    class_names=[str(d) for d in range(10)], training_steps=steps))
    model.load_state_dict(state)
    return save_checkpoint(out, model, train_config={"imported_from": [str(encoder_file), str(decoder_file)]})


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m train.import_reference", __doc__)
    parser.add_argument("--reference-dir", type=Path, default=None,
                        help="folder with the three repositories' folders; converts all that are there into <out>/authors-*")
    parser.add_argument("--encoder", type=Path, default=None, help="one checkpoints/encoder file")
    parser.add_argument("--decoder", type=Path, default=None, help="its checkpoints/decoder file")
    parser.add_argument("--method", choices=sorted(KEYS), default=None, help="default: guessed from the key names")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write (with --reference-dir: "
                        "the folder that receives authors-ccvae, authors-mathieu, authors-szabo)")
    parser.add_argument("--steps", type=int, default=0, help="training steps to record (0: unknown)")
    args = parser.parse_args(argv)
    if (args.reference_dir is None) == (args.encoder is None or args.decoder is None):
        parser.error("give either --reference-dir, or --encoder and --decoder")
    if args.reference_dir is not None:
        jobs = [(args.reference_dir / repo / "checkpoints", method) for method, repo in REPOSITORIES.items()
                if (args.reference_dir / repo / "checkpoints" / "encoder").is_file()]
        if not jobs:
            print(f"error: no <repository>/checkpoints/encoder under {args.reference_dir}; expected folders "
                  f"{', '.join(REPOSITORIES.values())}", file=sys.stderr)
            return 2
        pairs = [(folder / "encoder", folder / "decoder", args.out / f"authors-{method}", method) for folder, method in jobs]
    else:
        pairs = [(args.encoder, args.decoder, args.out, args.method)]
    for encoder, decoder, out, method in pairs:
        try:
            import_pair(encoder, decoder, out, method=method, steps=args.steps)
        except (OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError) as err:
            print(f"error: cannot convert {encoder} / {decoder}: {err!r}", file=sys.stderr)
            return 2
        print(f"wrote {out}; evaluate it with: python -m train.evaluate --checkpoint {out} --data-dir <MNIST>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
