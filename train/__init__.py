"""Command-line entry points: ``python -m train`` (training), ``python -m train.evaluate``."""
