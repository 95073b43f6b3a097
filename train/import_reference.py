"""Convert the CC-VAE authors' published MNIST checkpoint (legacy torch pickles) into our format.

    python -m train.import_reference --encoder REF/checkpoints/encoder --decoder REF/checkpoints/decoder \\
        --out checkpoints/authors-ccvae

TRUSTED INPUT ONLY. This is the one place where a pickle is read, and only when you run it. The files
are opened with ``torch.load(weights_only=True)``, PyTorch's restricted unpickler that accepts tensors
and plain containers and refuses anything that would run code; still, convert only files whose origin
you trust (here: github.com/ananyahjha93/cycle-consistent-vae, MIT licence). The output is safetensors
+ JSON, like every checkpoint the app and the evaluator open. Converted files are for your machine:
do not commit them.

The authors' key names (``varying_factor_*`` for z, ``common_factor`` for s) differ from their own
``networks.py``; their instance-norm running statistics are dropped (our norms use per-image statistics,
which is what their training computed).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import torch

from core.checkpoint import save_checkpoint
from core.models import ModelConfig, build_model

ENCODER_HEADS = {"z_mu": "varying_factor_mu", "z_logvar": "varying_factor_logvar", "s": "common_factor"}
DECODER_INPUTS = {"z_in": "varying_factor", "s_in": "common_factor"}
LAYERS = ((1, 0), (2, 3), (3, 6))  # their conv/deconv number -> index in our nn.Sequential


def convert(encoder: dict[str, torch.Tensor], decoder: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' two state dicts -> our CCVAE state dict (z = s = 16, 28x28x1)."""
    out = {}
    for theirs, ours in LAYERS:
        for p in ("weight", "bias"):
            out[f"encoder.trunk.{ours}.{p}"] = encoder[f"conv_model.convolution_{theirs}.{p}"]
            out[f"decoder.head.{ours}.{p}"] = decoder[f"deconv_model.deconvolution_{theirs}.{p}"]
    for p in ("weight", "bias"):
        out.update({f"encoder.{ours}.{p}": encoder[f"{theirs}.{p}"] for ours, theirs in ENCODER_HEADS.items()})
        out.update({f"decoder.{ours}.{p}": decoder[f"{theirs}.{p}"] for ours, theirs in DECODER_INPUTS.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.import_reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", type=Path, required=True, help="the authors' checkpoints/encoder file")
    parser.add_argument("--decoder", type=Path, required=True, help="the authors' checkpoints/decoder file")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument("--steps", type=int, default=93_700, help="training steps to record (100 epochs of 937)")
    args = parser.parse_args(argv)
    try:
        encoder, decoder = (torch.load(p, map_location="cpu", weights_only=True) for p in (args.encoder, args.decoder))
        state = convert(encoder, decoder)
        model = build_model(ModelConfig(dataset="mnist", class_names=[str(d) for d in range(10)],
                                        training_steps=args.steps))
        model.load_state_dict(state)
    except (OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError) as err:
        print(f"error: cannot convert {args.encoder} / {args.decoder}: {err!r}", file=sys.stderr)
        return 2
    save_checkpoint(args.out, model, train_config={"imported_from": [str(args.encoder), str(args.decoder)]})
    print(f"wrote {args.out}; evaluate it with: python -m train.evaluate --checkpoint {args.out} --data-dir <MNIST>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
