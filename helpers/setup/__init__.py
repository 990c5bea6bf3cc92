"""TODO map."""

from helpers.setup.notebook import setup_notebook

__all__ = ["setup_notebook"]
