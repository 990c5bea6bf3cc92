"""What every library adapter offers, and the two things that are the same for all of them.

A :class:`LibraryAdapter` answers, for one library's ViT, every question the rest of the
package would otherwise answer by branching on the library: where the attention kernel is
switched, where attention probabilities can be read, how the layers are named, where the token
sequence can be cut, how the weights map onto :class:`helpers.models.parts.ViTParts`. One
adapter per library lives beside this module; :func:`helpers.models.libraries.adapter_for`
picks one, and :func:`helpers.models.load` carries it on the ``LoadedModel`` it returns.

Also here, because they hold for every library: :func:`unwrap` (the library's module inside a
``LoadedModel`` or a PEFT model) and :func:`logits_of` (the logits in a model's output).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

__all__ = ["LibraryAdapter", "Record", "unwrap", "logits_of", "kwarg_rewriter"]

#: ``record(weights, where)``: how an adapter hands a captured (B, heads, N, N) map (or None,
#: for a layer that ran without producing one) to :func:`helpers.maps.capture_attention`.
Record = Callable[[torch.Tensor | None, str], None]


def unwrap(model: Any) -> nn.Module:
    """The library's own module inside what :func:`helpers.models.load` returned.

    Args:
        model: A ``LoadedModel`` (its ``.model``), a PEFT model (its base model) or a module.

    Raises:
        TypeError: no ``nn.Module`` can be found in ``model``.
    """
    inner = getattr(model, "model", None)
    if not isinstance(model, nn.Module) and isinstance(inner, nn.Module):
        model = inner
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module or what helpers.models.load returned; got "
                        f"{type(model).__name__}.")
    get_base = getattr(model, "get_base_model", None)  # peft.PeftModel wraps the library's model
    if callable(get_base) and type(model).__module__.startswith("peft."):
        model = get_base()
    return model


def logits_of(output: Any) -> torch.Tensor:
    """The logits in a model's output: transformers returns an object with ``.logits``,
    torchvision and timm the (B, classes) tensor itself."""
    return output.logits if hasattr(output, "logits") else output


def kwarg_rewriter(module: nn.Module, forced: dict[str, Any], pending: list[dict[str, Any]]
                   ) -> Callable:
    """A forward pre-hook (with_kwargs) that forces ``forced`` arguments and remembers the
    caller's own values (defaults included) on ``pending``."""
    signature = inspect.signature(module.forward)

    def pre_hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        pending.append({name: bound.arguments[name] for name in forced})
        bound.arguments.update(forced)
        return tuple(bound.args), dict(bound.kwargs)

    return pre_hook


class LibraryAdapter:
    """One library's answers. Subclasses override what their library does differently.

    Every method takes the library's own module (after :func:`unwrap`).

    Attributes:
        name: ``"torchvision"``, ``"transformers"`` or ``"timm"``: what ``load`` is given and
            ``LoadedModel.library`` says.
    """

    name: str = ""

    def owns(self, module: nn.Module) -> bool:
        """Whether ``module`` is this library's ViT (decided by its class's module)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- attention kernel

    @contextlib.contextmanager
    def kernel(self, module: nn.Module, *, fused: bool) -> Iterator[None]:
        """The fused attention kernel on or off inside, every setting restored on exit."""
        yield

    def use_eager(self, module: nn.Module) -> None:
        """Switch to the explicit softmax path for good (nothing to do by default)."""

    def is_attention_block(self, module: nn.Module) -> bool:
        """Whether ``module`` is one of this library's attention modules."""
        return False

    def attention_blocks(self, module: nn.Module) -> list[tuple[str, nn.Module]]:
        """``(name, module)`` of every attention module in ``module``, in definition order."""
        return [(name, sub) for name, sub in module.named_modules()
                if self.is_attention_block(sub)]

    def attach_capture(self, module: nn.Module, record: Record, maps: list,
                       stack: ExitStack) -> int:
        """Hook every attention module in ``module`` so that it calls ``record`` with its
        probabilities; the hooks' removal goes on ``stack``. Returns how many were hooked."""
        return 0

    # ---------------------------------------------------------------- layout

    def blocks(self, module: nn.Module) -> list[nn.Module]:
        """The transformer blocks, first first."""
        raise NotImplementedError

    def classifier_parts(self, module: nn.Module
                         ) -> tuple[nn.Module | None, list[nn.Module | None], list[nn.Module]]:
        """``(head, final norms, blocks)`` of a classifier (sanity checks randomise them)."""
        raise NotImplementedError

    def patch_size(self, module: nn.Module) -> int:
        """The side of one square patch, in pixels."""
        raise NotImplementedError

    def token_states(self, module: nn.Module, pixel_values: torch.Tensor
                     ) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        """``(states, prefix, pooler)``: the (B, T, D) tokens after the final norm, how many
        class/register tokens lead them, and the (B, D) pooler output or None."""
        raise NotImplementedError

    def token_site(self, module: nn.Module) -> tuple[nn.Module, int] | None:
        """The module whose output is the embedded (B, prefix + P, D) sequence with position
        embeddings added, and the prefix; None if this layout has no such place."""
        return None

    def vit_parts(self, module: nn.Module) -> Any:
        """The weights as :class:`helpers.models.parts.ViTParts` (the model's own tensors)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name} adapter>"

    # one adapter per library: copies (of a LoadedModel, say) and pickles keep the same one
    def __copy__(self) -> LibraryAdapter:
        return self

    def __deepcopy__(self, memo: dict) -> LibraryAdapter:
        return self

    def __reduce__(self) -> tuple:
        return _named, (self.name,)


def _named(library: str) -> LibraryAdapter:
    from helpers.models.libraries.choice import adapter_named

    return adapter_named(library)
