"""Published numbers (z test / s test accuracy, %) to print beside ours. Source: shared SCIENCE.md."""

PAPER_RESULTS = {
    # (dataset, z_dim, s_dim): {row name: (z test %, s test %)}
    ("mnist", 16, 16): {"CC-VAE (ECCV 2018)": (17.56, 98.35), "CC-VAE (report)": (18.06, 98.29),
                        "Mathieu et al.": (65.57, 98.58), "Szabó et al.": (48.82, 97.97)},
    ("mnist", 32, 32): {"CC-VAE (report)": (16.96, 98.62), "Mathieu et al.": (58.97, 98.63), "Szabó et al.": (71.81, 97.98)},
    ("mnist", 64, 64): {"CC-VAE (report)": (17.36, 98.58), "CC-VAE (ECCV 2018)": (26.55, 98.33),
                        "Mathieu et al.": (67.29, 98.73), "Szabó et al.": (92.49, 98.60)},
    ("mnist", 128, 128): {"CC-VAE (report)": (18.89, 98.52), "Mathieu et al.": (59.08, 98.40), "Szabó et al.": (96.74, 98.46)},
    ("mnist", 256, 256): {"CC-VAE (report)": (18.75, 98.39), "Mathieu et al.": (58.82, 98.65), "Szabó et al.": (98.03, 98.12)},
    ("mnist", 512, 512): {"CC-VAE (report)": (20.22, 98.27), "Mathieu et al.": (58.27, 98.32), "Szabó et al.": (98.34, 98.27)},
    # Sprites (ECCV Table 1): the paper does not say which label its classifier predicts (ours: character identity)
    ("sprites", 512, 64): {"CC-VAE (ECCV 2018, label unstated)": (11.47, 97.16), "Mathieu et al.": (11.98, 96.75),
                           "Szabó et al.": (99.63, 99.79)},
    ("sprites", 1024, 512): {"CC-VAE (ECCV 2018, label unstated)": (11.61, 97.22), "Mathieu et al.": (12.25, 97.45),
                             "Szabó et al.": (99.65, 99.76)},
}

# The report's loss variants on MNIST 16/16 (z test %, s test %), keyed by our sweep's cell names.
PAPER_VARIANTS = {
    "ccvae-16": ("vanilla", (17.56, 98.35)),
    "reverse-reconstruction": ("+ reconstruction loss in the reverse cycle", (14.25, 98.38)),
    "adversarial-decoder": ("adversarial loss, decoder only", (18.04, 97.01)),
    "adversarial-both": ("adversarial loss, encoder and decoder", (23.28, 97.91)),
    "wasserstein": ("Wasserstein distance instead of L1", (16.34, 98.33)),
}

# Rows the report gives with train and test accuracy (%), z and s: {key: {row name: {"z": (train, test), "s": ...}}}.
# The report's expression model (Table 4.1, "MultiPIE - Expression", 6 expressions): its z column is z sampled.
PAPER_TRAIN_TEST = {
    "multipie-expression": {"CC-VAE (report, Table 4.1), Multi-PIE, 6 expressions": {"z": (34.45, 30.22),
                                                                                     "s": (99.99, 83.87)}},
}
