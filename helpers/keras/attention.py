"""The attention of a trained Keras ViT, read from its own ``MultiHeadAttention`` layers
(``return_attention_scores=True``; Keras has no hooks to capture it during a forward pass).
"""

from __future__ import annotations

from helpers.keras.backend import ensure_torch_backend

ensure_torch_backend()

import keras  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

__all__ = ["attention_layer_names", "attention_scores"]


def attention_layer_names(model: keras.Model) -> list[str]:
    """Names of the blocks' MultiHeadAttention layers, first block first."""
    return [layer.name for layer in model.layers
            if isinstance(layer, layers.MultiHeadAttention)]


def attention_scores(model: keras.Model, images: np.ndarray, block: int = -1,
                     batch_size: int = 64) -> np.ndarray:
    """Attention weights of one block, from the layer itself (``return_attention_scores``).

    The model runs in inference mode up to the block's first LayerNorm; the block's
    ``MultiHeadAttention`` layer is then called again on that input with
    ``return_attention_scores=True``.

    Args:
        model: A model from :func:`helpers.keras.model.build_seed_vit` or
            :func:`helpers.keras.model.build_improved_vit`.
        images: (B, H, W, 3) images as the model takes them.
        block: Which block (negative counts from the end).
        batch_size: Images per forward pass.

    Returns:
        (B, heads, T, T) attention weights; each row sums to 1.
    """
    names = attention_layer_names(model)
    if not names:
        raise ValueError("model has no MultiHeadAttention layer.")
    if not -len(names) <= block < len(names):
        raise ValueError(f"block must be in [-{len(names)}, {len(names) - 1}]; got {block}.")
    attention_name = names[block]
    norm_name = attention_name.replace("_attention", "_norm1")
    attention = model.get_layer(attention_name)
    upto = keras.Model(model.input, model.get_layer(norm_name).output)
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (B, H, W, 3); got shape {images.shape}.")
    chunks = []
    for start in range(0, len(images), batch_size):
        x1 = upto(images[start:start + batch_size], training=False)  # (b, T, D)
        _, scores = attention(x1, x1, return_attention_scores=True,
                              training=False)  # (b, heads, T, T)
        chunks.append(ops.convert_to_numpy(scores))
    return np.concatenate(chunks)
