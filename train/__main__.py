"""``python -m train``: train a CC-VAE or a pair baseline (``train.ccvae`` has the command line and its help)."""

import sys

from train.ccvae import main

if __name__ == "__main__":
    sys.exit(main())
