"""Generators of the sample data in ``data/`` (run ``python data/generate.py``); see data/README.md."""
