"""Which adapter a model gets, and the calls that go through it for any library.

:func:`adapter_for` is the one place a model's library is worked out: it takes the adapter a
``LoadedModel`` carries (chosen once, by :func:`helpers.models.load`), or recognises the
library's own module (also inside a PEFT wrapper). :func:`attention_kernel` and
:func:`use_eager_attention` work on a whole ViT or on a piece of one (say a bare
``nn.MultiheadAttention``): every adapter then handles the parts it recognises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import nn

from helpers.models.libraries.base import LibraryAdapter, unwrap
from helpers.models.libraries.timm_vit import TIMM
from helpers.models.libraries.torchvision_vit import TORCHVISION
from helpers.models.libraries.transformers_vit import TRANSFORMERS

__all__ = ["ADAPTERS", "LIBRARIES", "adapter_named", "adapter_for", "adapters_in", "library_of",
           "attention_kernel", "use_eager_attention"]

#: One adapter per library; adding a library = adding its module and its adapter here.
ADAPTERS: tuple[LibraryAdapter, ...] = (TORCHVISION, TRANSFORMERS, TIMM)

#: The libraries' names, as :func:`helpers.models.load` takes them.
LIBRARIES = tuple(adapter.name for adapter in ADAPTERS)


def adapter_named(library: str) -> LibraryAdapter:
    """The adapter of the library called ``library`` (``"torchvision"``, ...).

    Raises:
        ValueError: an unknown name.
    """
    for adapter in ADAPTERS:
        if adapter.name == library:
            return adapter
    raise ValueError(f"library must be one of {', '.join(LIBRARIES)}; got {library!r}.")


def adapter_for(model: Any) -> LibraryAdapter:
    """The adapter of a ViT: the one a ``LoadedModel`` carries, else the library that defines
    the module's class.

    Args:
        model: What :func:`helpers.models.load` returned, a PEFT model or a ViT module.

    Raises:
        TypeError: no ``nn.Module`` in ``model``.
        ValueError: none of the three libraries' ViTs.
    """
    carried = getattr(model, "adapter", None)
    if isinstance(carried, LibraryAdapter):
        return carried
    module = unwrap(model)
    for adapter in ADAPTERS:
        if adapter.owns(module):
            return adapter
    raise ValueError(f"model must be a torchvision, transformers or timm ViT; got "
                     f"{type(module).__module__}.{type(module).__name__}.")


def adapters_in(model: Any) -> tuple[LibraryAdapter, ...]:
    """The adapter of a whole ViT; every adapter for a piece of one (each finds its parts)."""
    try:
        return (adapter_for(model),)
    except ValueError:
        return ADAPTERS


def library_of(model: Any) -> str:
    """Which library a ViT comes from: ``"torchvision"``, ``"transformers"`` or ``"timm"``.

    Args:
        model: A ViT module, a ``LoadedModel`` or a PEFT model wrapping one.

    Raises:
        ValueError: none of the three libraries' ViTs.
    """
    return adapter_for(model).name


def use_eager_attention(model: Any) -> nn.Module:
    """Switch a model's attention to the explicit softmax path for good, so hooks can read it.

    timm: ``fused_attn = False`` on every attention block; transformers: ``"eager"``;
    torchvision: unchanged (its weights are requested per call).

    Returns:
        The library's module, switched.
    """
    module = unwrap(model)
    for adapter in adapters_in(model):
        adapter.use_eager(module)
    return module


@contextlib.contextmanager
def attention_kernel(model: Any, *, fused: bool) -> Iterator[nn.Module]:
    """Temporarily switch a model's attention to the fused kernel (``fused=True``) or to the
    explicit softmax path (``fused=False``), and restore every setting on exit, also when the
    ``with`` block raises.

    Fused attention is faster and gives the same outputs to about 1e-6, but never forms the
    attention matrix; capturing attention needs the explicit path.

    Args:
        model: A torchvision, transformers or timm ViT (or what ``load`` returned).
        fused: Which path to use inside the block.

    Yields:
        The library's module.
    """
    module = unwrap(model)
    with contextlib.ExitStack() as stack:
        for adapter in adapters_in(model):
            stack.enter_context(adapter.kernel(module, fused=fused))
        yield module
