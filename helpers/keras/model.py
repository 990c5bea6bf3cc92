"""A Vision Transformer built from Keras 3 layers: the keras-io seed and an improved variant.

The seed is the keras-io example "Image classification with Vision Transformer"
(Khalid Salama, 2021): images resized to 72x72, cut into 6x6 patches (144 tokens of
108 values), 8 transformer blocks of width 64, and a classifier head that flattens all
144 tokens into one 9,216-long vector followed by Dropout(0.5) and a 2048/1024 MLP.
Two of its choices are what a ViT usually does differently:

* the head: a ViT reads one vector per image, either a learned class token or the
  average of the tokens (global average pooling), not the flattened sequence;
* the attention: ``MultiHeadAttention(num_heads=4, key_dim=64)`` with width 64 gives
  *each* head 64 dimensions, so queries, keys and values are 4 x 64 = 256 wide inside a
  64-wide model (keras-io issue 1907). A ViT splits the width: ``key_dim = width / heads``.

Keras runs on the **torch** backend here (:mod:`helpers.keras.backend`). The augmentation
layers are in :mod:`helpers.keras.augment`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from helpers.keras.backend import ensure_torch_backend

__all__ = [
    "KerasViTConfig",
    "SEED_VIT",
    "IMPROVED_VIT",
    "Patches",
    "PatchEncoder",
    "mlp",
    "transformer_block",
    "build_seed_vit",
    "build_improved_vit",
    "parameter_breakdown",
]


ensure_torch_backend()

import keras  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from helpers.keras.augment import improved_augmentation, seed_augmentation  # noqa: E402


@dataclass(frozen=True)
class KerasViTConfig:
    """Architecture of a small ViT classifier.

    Attributes:
        image_size: Side of the (resized) square input, in pixels.
        patch_size: Side of a square patch, in pixels.
        width: Size of every token in the residual stream (keras-io: ``projection_dim``).
        depth: Number of transformer blocks.
        heads: Attention heads per block.
        key_dim: Size of each head's queries and keys.
        mlp_units: Hidden sizes of each block's MLP; the last one must equal ``width``.
        mlp_gelu_last: Apply GELU after the MLP's last layer too (the seed does).
        head: ``"flatten"`` (the seed), ``"gap"`` (average of the tokens) or ``"token"``
            (a learned class token).
        head_units: Hidden sizes of the MLP in the classifier head.
        dropout: Dropout inside the blocks (attention weights and MLP).
        head_dropout: Dropout in the classifier head.
        input_size: Side of the images fed to the model (before resizing).
    """

    image_size: int
    patch_size: int
    width: int
    depth: int
    heads: int
    key_dim: int
    mlp_units: tuple[int, ...]
    mlp_gelu_last: bool
    head: str
    head_units: tuple[int, ...]
    dropout: float
    head_dropout: float
    input_size: int = 32

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size={self.image_size} must be a multiple of "
                             f"patch_size={self.patch_size}.")
        if self.head not in ("flatten", "gap", "token"):
            raise ValueError(f"head must be 'flatten', 'gap' or 'token'; got {self.head!r}.")
        if not self.mlp_units or self.mlp_units[-1] != self.width:
            raise ValueError(f"mlp_units must end with width={self.width} (the residual "
                             f"stream's size); got {self.mlp_units}.")

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Patches per image."""
        return self.grid**2

    @property
    def patch_values(self) -> int:
        """Numbers in one RGB patch."""
        return self.patch_size**2 * 3

    @property
    def tokens(self) -> int:
        """Tokens entering the transformer (patches, plus one for a class token)."""
        return self.num_patches + (self.head == "token")

    def scaled(self, **changes: object) -> KerasViTConfig:
        """A copy with some fields changed (e.g. smaller for a test)."""
        return replace(self, **changes)


#: The keras-io example's hyperparameters (before issue 1907 was addressed upstream).
SEED_VIT = KerasViTConfig(image_size=72, patch_size=6, width=64, depth=8, heads=4, key_dim=64,
                     mlp_units=(128, 64), mlp_gelu_last=True, head="flatten",
                     head_units=(2048, 1024), dropout=0.1, head_dropout=0.5)

#: The improved architecture: native 32x32 input, 4x4 patches, key_dim = width / heads,
#: a standard MLP (GELU then linear) and a global-average-pooling head.
IMPROVED_VIT = KerasViTConfig(image_size=32, patch_size=4, width=128, depth=6, heads=4, key_dim=32,
                         mlp_units=(256, 128), mlp_gelu_last=False, head="gap", head_units=(),
                         dropout=0.0, head_dropout=0.0)


# ----------------------------------------------------------------------------- layers


class Patches(layers.Layer):
    """Cut images into non-overlapping square patches, one flat vector per patch.

    Input: (B, H, W, C) images. Output: (B, (H/p)(W/p), p*p*C) patches in row-major
    order; each patch is flattened row by row, the channels of a pixel together.
    """

    def __init__(self, patch_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if patch_size < 1:
            raise ValueError(f"patch_size must be positive; got {patch_size}.")
        self.patch_size = patch_size

    def call(self, images):
        batch, height, width, channels = ops.shape(images)
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"images of size {height}x{width} do not split into "
                             f"{self.patch_size}x{self.patch_size} patches.")
        p = self.patch_size
        patches = ops.image.extract_patches(images, size=p)  # (B, H/p, W/p, p*p*C)
        return ops.reshape(patches, (batch, (height // p) * (width // p), p * p * channels))

    def get_config(self) -> dict:
        return {**super().get_config(), "patch_size": self.patch_size}


class PatchEncoder(layers.Layer):
    """Project patches to ``width`` and add a learned position embedding.

    With ``class_token=True`` a learned token is put in front of the patches (it gets
    a position embedding of its own), as in the original ViT.

    Input: (B, N, P) patches. Output: (B, N, width), or (B, N + 1, width) with a class token.
    """

    def __init__(self, num_patches: int, projection_dim: int, class_token: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_patches = num_patches
        self.projection_dim = projection_dim
        self.class_token = class_token
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(input_dim=num_patches + class_token,
                                                   output_dim=projection_dim)

    def build(self, input_shape) -> None:
        self.projection.build(input_shape)
        self.position_embedding.build((None,))
        if self.class_token:
            self.cls = self.add_weight(shape=(1, 1, self.projection_dim), name="class_token",
                                       initializer="zeros")

    def call(self, patches):
        tokens = self.projection(patches)  # (B, N, D)
        if self.class_token:
            cls = ops.broadcast_to(self.cls, (ops.shape(tokens)[0], 1, self.projection_dim))
            tokens = ops.concatenate([cls, tokens], axis=1)  # (B, N + 1, D)
        positions = ops.expand_dims(ops.arange(self.num_patches + self.class_token), 0)  # (1, T)
        return tokens + self.position_embedding(positions)  # (B, T, D)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_patches": self.num_patches,
                "projection_dim": self.projection_dim, "class_token": self.class_token}


def mlp(x, hidden_units: tuple[int, ...] | list[int], dropout_rate: float,
        gelu_last: bool = True, name: str | None = None):
    """Dense layers with GELU and dropout (the seed puts GELU after every layer).

    Args:
        x: (..., D) symbolic tensor.
        hidden_units: Output size of each Dense layer.
        dropout_rate: Dropout after each layer.
        gelu_last: Whether the last layer has GELU too (a standard ViT MLP: no).
        name: Prefix for the layer names.

    Returns:
        (..., hidden_units[-1]) tensor.
    """
    for i, units in enumerate(hidden_units):
        last = i == len(hidden_units) - 1
        activation = keras.activations.gelu if (gelu_last or not last) else None
        x = layers.Dense(units, activation=activation,
                         name=f"{name}_dense{i}" if name else None)(x)
        x = layers.Dropout(dropout_rate, name=f"{name}_dropout{i}" if name else None)(x)
    return x


def transformer_block(x, *, heads: int, key_dim: int, mlp_units: tuple[int, ...],
                      dropout: float, mlp_gelu_last: bool, name: str):
    """One pre-norm transformer block: x + MHA(LN(x)), then + MLP(LN(.)).

    Layers are named ``{name}_norm1``, ``{name}_attention``, ``{name}_norm2`` and
    ``{name}_mlp_*`` so :func:`attention_scores` can find them.

    Args:
        x: (B, T, D) symbolic tensor.
        heads: Attention heads.
        key_dim: Per-head size of queries and keys.
        mlp_units: MLP sizes, ending with D.
        dropout: Dropout on attention weights and in the MLP.
        mlp_gelu_last: GELU after the MLP's last layer (the seed).
        name: Block name, e.g. ``"block0"``.

    Returns:
        (B, T, D) tensor.
    """
    x1 = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)  # (B, T, D)
    attention = layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, dropout=dropout,
                                          name=f"{name}_attention")(x1, x1)  # (B, T, D)
    x2 = layers.Add(name=f"{name}_add1")([attention, x])
    x3 = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x2)
    x3 = mlp(x3, mlp_units, dropout, gelu_last=mlp_gelu_last, name=f"{name}_mlp")
    return layers.Add(name=f"{name}_add2")([x3, x2])  # (B, T, D)


# ----------------------------------------------------------------------------- models


def _check_images(x_train: np.ndarray, config: KerasViTConfig) -> None:
    if x_train.ndim != 4 or x_train.shape[-1] != 3:
        raise ValueError(f"x_train must be (N, H, W, 3) images; got shape {x_train.shape}.")
    if x_train.shape[1:3] != (config.input_size, config.input_size):
        raise ValueError(f"x_train images are {x_train.shape[1]}x{x_train.shape[2]}, but the "
                         f"config expects input_size={config.input_size}.")


def _classifier_head(encoded, config: KerasViTConfig, num_classes: int):
    """LayerNorm, then Flatten + Dropout (the seed), token average, or the class token;
    then the optional head MLP and the logits."""
    encoded = layers.LayerNormalization(epsilon=1e-6, name="head_norm")(encoded)  # (B, T, D)
    if config.head == "flatten":
        representation = layers.Flatten(name="head_flatten")(encoded)  # (B, T * D)
        representation = layers.Dropout(config.head_dropout, name="head_dropout")(representation)
    elif config.head == "gap":
        representation = layers.GlobalAveragePooling1D(name="head_pool")(encoded)  # (B, D)
    else:
        representation = layers.Lambda(lambda t: t[:, 0], name="head_class_token")(encoded)
    if config.head_units:
        representation = mlp(representation, config.head_units, config.head_dropout,
                             name="head_mlp")
    return layers.Dense(num_classes, name="head_logits")(representation)  # (B, num_classes)


def _vit(inputs, augmented, config: KerasViTConfig, num_classes: int, name: str) -> keras.Model:
    patches = Patches(config.patch_size, name="patches")(augmented)  # (B, N, P)
    encoded = PatchEncoder(config.num_patches, config.width, class_token=config.head == "token",
                           name="patch_encoder")(patches)  # (B, T, D)
    for i in range(config.depth):
        encoded = transformer_block(encoded, heads=config.heads, key_dim=config.key_dim,
                                    mlp_units=config.mlp_units, dropout=config.dropout,
                                    mlp_gelu_last=config.mlp_gelu_last, name=f"block{i}")
    logits = _classifier_head(encoded, config, num_classes)
    return keras.Model(inputs=inputs, outputs=logits, name=name)


def build_seed_vit(x_train: np.ndarray, num_classes: int, config: KerasViTConfig = SEED_VIT
                   ) -> keras.Model:
    """The keras-io ViT: augmentation, patches, blocks, and the Flatten + MLP head.

    Layers are named (``patches``, ``patch_encoder``, ``block{i}_*``, ``head_*``) but the
    computation is the seed's. A config with ``head="gap"`` or ``"token"`` swaps only the
    head, for experiments that change nothing else.

    Args:
        x_train: (N, 32, 32, 3) training images (the normalisation adapts to them).
        num_classes: Output logits.
        config: Architecture (defaults to the seed's own numbers).

    Returns:
        A functional model mapping (B, 32, 32, 3) images to (B, num_classes) logits.
    """
    _check_images(x_train, config)
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    augmented = seed_augmentation(x_train, config.image_size)(inputs)  # (B, S, S, 3)
    return _vit(inputs, augmented, config, num_classes, name="seed_vit")


def build_improved_vit(x_train: np.ndarray, num_classes: int, config: KerasViTConfig = IMPROVED_VIT,
                       augmentation: keras.Sequential | None = None) -> keras.Model:
    """A ViT as usually built: key_dim = width / heads and a pooled (or class-token) head.

    Args:
        x_train: (N, 32, 32, 3) training images (the normalisation adapts to them).
        num_classes: Output logits.
        config: Architecture; ``config.head`` must be ``"gap"`` or ``"token"``.
        augmentation: Preprocessing model to use instead of :func:`improved_augmentation`.

    Returns:
        A functional model mapping (B, 32, 32, 3) images to (B, num_classes) logits.
    """
    _check_images(x_train, config)
    if config.head == "flatten":
        raise ValueError("build_improved_vit needs config.head 'gap' or 'token'; got 'flatten' "
                         "(use build_seed_vit for the Flatten head).")
    if config.width % config.heads or config.key_dim != config.width // config.heads:
        raise ValueError(f"key_dim must be width / heads = {config.width} / {config.heads}; "
                         f"got key_dim={config.key_dim}.")
    if augmentation is None:
        augmentation = improved_augmentation(x_train, config.image_size)
    inputs = keras.Input(shape=(config.input_size, config.input_size, 3))
    return _vit(inputs, augmentation(inputs), config, num_classes, name="improved_vit")


# ----------------------------------------------------------------------------- inspection


def parameter_breakdown(model: keras.Model) -> dict[str, int]:
    """Parameters in the patch encoder, the transformer blocks and the classifier head.

    Returns:
        ``{"patch encoder": n, "blocks": n, "head": n}`` (layers named as the builders
        name them).
    """
    counts = {"patch encoder": 0, "blocks": 0, "head": 0}
    for layer in model.layers:
        n = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        if layer.name.startswith("block"):
            counts["blocks"] += n
        elif layer.name.startswith("head"):
            counts["head"] += n
        elif layer.name == "patch_encoder":
            counts["patch encoder"] += n
    return counts
