"""genrec: a model zoo for generative recommendation with semantic IDs."""

__version__ = "0.1.0"
