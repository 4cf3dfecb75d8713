"""toolkit: submit, watch and analyse asynchronous media-analysis jobs from Jupyter."""

__version__ = "0.1.0"
