"""Reusable code for the Vision Transformer notebook series.

Modules are small and hold one idea each; import them directly, e.g.
``from helpers.models import load``. Importing this package is cheap: no
deep-learning library is imported until a function needs it.
"""

__all__ = ["__version__", "REPOSITORY"]

__version__ = "0.1.0"

#: GitHub ``owner/name`` the Colab badges and the Colab install point at.
REPOSITORY = "vit-notebooks/vit-notebooks"
