"""Reusable code for the Vision Transformer notebook series.

The subpackages show the architecture; each module holds one idea:

==============  ===================================================================================
``setup``       the notebooks' setup cell: environment, network probe, Colab installs
``data``        photos, datasets, preprocessing
``models``      loading a ViT from torchvision / transformers / timm, one adapter per library
                (``models.libraries``), conversion between them, the ViT computed by hand,
                image embeddings
``maps``        attention capture, rollout, attention distance, gradient maps, DINO maps
``evaluation``  tests of the maps: deletion/insertion curves, sanity checks, head ablation
``figures``     every figure, and the one way a map is drawn over a photo
``explorers``   the interactive ipywidgets explorers, one API for all
``keras``       the Keras 3 ViT trained from scratch (notebook 06)
``finetune``    fine-tuning a pretrained ViT on new classes and your own photos (notebook 09)
``exercises``   the end-of-notebook exercise checks and reference solutions
``shapes``      the shared input check for empty tensors
``tolerances``  how close two float32 results of different kernels must be (tests, notebooks)
==============  ===================================================================================

Import what you need from its module, e.g. ``from helpers.models import load``. Importing this
package is cheap: no deep-learning library is imported until a function needs it.
"""

__all__ = ["__version__", "REPOSITORY"]

__version__ = "0.1.0"

#: GitHub ``owner/name`` the Colab badges and the Colab install point at.
REPOSITORY = "vit-notebooks/vit-notebooks"
