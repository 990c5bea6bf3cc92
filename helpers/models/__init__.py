"""Models: loading a ViT from three libraries, what differs between them, and its insides.

=================  ===========================================================================
``loading``        :func:`load` (online, cached, stand-in or random weights; never hangs)
``loaded``         :class:`LoadedModel`, what ``load`` returns (``batch``, ``logits``, ``predict``)
``hub``            hub downloads pinned to commits, checked against known hashes, cached
``libraries``      one adapter per library (a subpackage), chosen once and carried by
                   ``LoadedModel.adapter``: attention kernel on/off, capture points, layer
                   names, transformers 4/5 quirks; ``library_of``, ``unwrap``, ``logits_of``
``convert``        one timm ViT's weights copied into torchvision's and transformers' classes
``parts``          a ViT's weights read into one layout (:class:`ViTParts`) from any library
``by_hand``        the whole forward pass in plain tensor operations on those weights
``embeddings``     what the model makes of many images: CLS / mean-pooled / pooler embeddings,
                   batched (:func:`extract_embeddings`)
``learned``        what the learned embeddings look like (filters, position similarities)
``architectures``  size and cost of torchvision's ViT family, without downloading weights
=================  ===========================================================================

``from helpers.models import load, LoadedModel`` is the short way in.
"""

from helpers.models.hub import PINNED_REVISIONS
from helpers.models.libraries import LIBRARIES
from helpers.models.loaded import LoadedModel
from helpers.models.loading import DEFAULT_NAMES, STAND_IN_ARCH, load

__all__ = ["LIBRARIES", "DEFAULT_NAMES", "PINNED_REVISIONS", "STAND_IN_ARCH", "LoadedModel",
           "load"]
