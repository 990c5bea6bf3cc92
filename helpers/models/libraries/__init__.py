"""Where torchvision, transformers and timm ViTs differ: one adapter per library.

The course loads the same kind of model from three libraries, and each library hides the
attention matrix behind a faster kernel, names its layers its own way and changes both between
releases. These are the lines that break when a library is upgraded, so they live here and
nowhere else: every other module asks the model's adapter (:func:`adapter_for`, or
``loaded.adapter`` on what :func:`helpers.models.load` returned) instead of asking which
library it is.

====================  ==========================================================================
``base``              :class:`LibraryAdapter`, the questions every adapter answers; ``unwrap``
                      (LoadedModel, PEFT) and ``logits_of``, the same for all libraries
``choice``            :func:`adapter_for` (decided once), ``library_of``, the attention kernel
                      on/off (:func:`attention_kernel`, :func:`use_eager_attention`)
``torchvision_vit``   torchvision's adapter: ``nn.MultiheadAttention`` asked for its weights
``transformers_vit``  transformers' adapter, ``set_attention_implementation`` and the 4.53 /
                      4.57 / 5.x quirks, ``hf_layers`` and ``hf_layer_parts``
``timm_vit``          timm's adapter: ``fused_attn``; :func:`require_timm` for what only timm
                      ViTs support (head ablation, Grad-CAM, fine-tuning)
====================  ==========================================================================

Adding a library = adding one module with its adapter, and naming it in
:data:`~helpers.models.libraries.choice.ADAPTERS`.

Example::

    library_of(loaded)                           # "timm"
    with attention_kernel(loaded, fused=True):   # faster, no attention maps
        features = loaded.model.forward_features(pixels)
"""

from helpers.models.libraries.base import LibraryAdapter, logits_of, unwrap
from helpers.models.libraries.choice import (
    ADAPTERS,
    LIBRARIES,
    adapter_for,
    adapter_named,
    adapters_in,
    attention_kernel,
    library_of,
    use_eager_attention,
)
from helpers.models.libraries.timm_vit import require_timm
from helpers.models.libraries.transformers_vit import (
    hf_layer_parts,
    hf_layers,
    hf_top,
    sdpa_returns_attention_maps,
    set_attention_implementation,
)

__all__ = [
    "ADAPTERS",
    "LIBRARIES",
    "LibraryAdapter",
    "adapter_for",
    "adapter_named",
    "adapters_in",
    "attention_kernel",
    "hf_layer_parts",
    "hf_layers",
    "hf_top",
    "library_of",
    "logits_of",
    "require_timm",
    "sdpa_returns_attention_maps",
    "set_attention_implementation",
    "unwrap",
    "use_eager_attention",
]
