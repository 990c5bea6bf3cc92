"""How close two float32 results must be, by where they came from (tests and notebooks follow it).

* **The same kernel, run twice on the same input**, gives the same bits: compare with
  ``torch.equal`` (a hook that only reads, a model restored after a switch, a cached result).
* **Two different computations of the same maths** -- a fused kernel against explicit maths,
  ``conv`` against ``unfold @ weights``, one library against another, a batch against one image at
  a time (matmul blocks a batch differently), our code by hand against the library -- compare with
  :func:`assert_same_maths`. Its tolerance is scaled to the size of the numbers compared. Never use
  ``assert_close``'s float32 defaults (atol 1e-5, rtol 1.3e-6) there: they are absolute for small
  numbers, and how two kernels round differs by processor. On an AMD EPYC, torchvision's fused
  attention against the explicit maths that capturing switches to moved a logit of ~10 by
  1.18e-5 and failed the default; on an Intel Xeon the same test passed.

Why this tolerance: float32 keeps 24 bits, so a number of size ``s`` is rounded to steps of
``eps * s`` (``eps = 2**-23``, about 1.2e-7). A sum of ``n`` terms taken in another order (another
SIMD width, another blocking, a softmax fused into the matmul) moves the result by about
``sqrt(n) * eps * s``, at worst ``n * eps * s``, and every later layer carries such differences on.
So the tolerance is ``ulps * eps * scale``, with ``scale`` the largest magnitude in the tensors
compared: ``ulps`` units of float32 rounding at the tensor's own size.

* ``ulps=64`` (the default) covers one layer's reductions over up to a few thousand terms
  (``sqrt(3072)`` is about 55): a matmul, a softmax, a LayerNorm, a convolution.
* ``ulps=DEEP`` (1024) covers a whole network: a ViT's logits after 12 blocks, gradients through
  it. The AMD case above was 6.6 units at the logits' size, so ``DEEP`` leaves a wide margin for
  other processors, while a real bug still fails: GELU's tanh approximation instead of erf moves
  one layer's output by ~1,000 units (caught at ``ONE_LAYER``) and a ViT's logits by more than
  ``DEEP`` (tests/models/test_by_hand.py fails in 8 places with it).

On a GPU that lets float32 matmuls or convolutions run in TensorFloat-32 (Ampere and newer, e.g.
Colab's A100 or L4: PyTorch allows it for cuDNN convolutions by default), the rounding step is
TF32's ``2**-10`` instead of ``2**-23``; a tensor on such a device is compared at that step.
Lower-precision results (float16, bfloat16) are compared at their own type's step.
"""

from __future__ import annotations

import numpy as np
import torch

EPS32 = float(torch.finfo(torch.float32).eps)  # 2**-23: float32's rounding step at 1.0
ONE_LAYER = 64
DEEP = 1024

__all__ = ["DEEP", "EPS32", "ONE_LAYER", "TF32_EPS", "assert_same_maths", "assert_same_top_k",
           "rounding_step", "same_maths_tolerance"]


TF32_EPS = 2.0 ** -10  # TensorFloat-32 keeps 10 mantissa bits


def _as_tensor(value: object) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.as_tensor(np.asarray(value))


def rounding_step(*tensors: object) -> float:
    """The relative rounding step of the coarsest computation behind ``tensors``.

    float32 (and float64, compared as if float32: one side usually is) gives ``2**-23``;
    float16 / bfloat16 their own step; a CUDA tensor where TensorFloat-32 is allowed ``2**-10``.
    """
    step = EPS32
    for value in tensors:
        if not isinstance(value, torch.Tensor):
            continue
        if value.dtype in (torch.float16, torch.bfloat16):
            step = max(step, float(torch.finfo(value.dtype).eps))
        if value.is_cuda and (torch.backends.cuda.matmul.allow_tf32
                              or torch.backends.cudnn.allow_tf32):
            step = max(step, TF32_EPS)
    return step


def same_maths_tolerance(*tensors: object, ulps: int = ONE_LAYER,
                         scale: float | None = None) -> float:
    """The absolute tolerance ``ulps * step * scale`` for results of different kernels.

    ``step`` is :func:`rounding_step` of the tensors: float32's ``2**-23`` on a CPU.

    Args:
        *tensors: the results compared; ``scale`` defaults to their largest magnitude (at least
            1e-30, so all-zero tensors compare exactly).
        ulps: units of float32 rounding at that scale (see the module docstring).
        scale: the size of the numbers the computation went through, when it is larger than the
            results' (a difference of large terms).

    Returns:
        The absolute tolerance.
    """
    if scale is None:
        scale = max((float(_as_tensor(t).abs().max()) for t in tensors if _as_tensor(t).numel()),
                    default=0.0)
    return ulps * rounding_step(*tensors) * max(scale, 1e-30)


def assert_same_maths(actual: object, expected: object, *, ulps: int = ONE_LAYER,
                      scale: float | None = None, msg: str | None = None) -> None:
    """Assert two results of the same maths by different kernels agree to float32 rounding.

    Args:
        actual: a tensor or array, any shape.
        expected: the same shape.
        ulps: units of float32 rounding at the tensors' scale: ``ONE_LAYER`` (64) or ``DEEP``.
        scale: override of the scale (see :func:`same_maths_tolerance`).
        msg: added to the failure message.

    Raises:
        AssertionError: shapes differ, or an element differs by more than the tolerance.
    """
    a, e = _as_tensor(actual), _as_tensor(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shapes differ: {tuple(a.shape)} vs {tuple(e.shape)}"
                             + (f" ({msg})" if msg else ""))
    a64, e64 = a.to(torch.float64), e.to(torch.float64)
    atol = same_maths_tolerance(actual, expected, ulps=ulps, scale=scale)  # device-aware
    worst = float((a64 - e64).abs().max()) if a.numel() else 0.0
    if not worst <= atol:  # also fails on NaN
        where = np.unravel_index(int((a64 - e64).abs().argmax()), tuple(a.shape))
        raise AssertionError(
            f"greatest difference {worst:.3g} at index {tuple(int(i) for i in where)} exceeds "
            f"{ulps} rounding steps of {rounding_step(actual, expected):.2g} at scale "
            f"{atol / (ulps * rounding_step(actual, expected)):.3g} "
            f"(tolerance {atol:.3g})" + (f": {msg}" if msg else ""))


def assert_same_top_k(actual: torch.Tensor, expected: torch.Tensor, *, k: int = 5,
                      ulps: int = DEEP, msg: str | None = None) -> None:
    """Assert two kernels' scores rank the same top-k classes, except where rounding may swap.

    Two scores closer than twice the float32 tolerance can come out in either order on another
    processor, so their order is not compared; every other place in the top k must match.

    Args:
        actual: (B, C) scores.
        expected: (B, C) scores of the same inputs from another kernel or library.
        k: how many top classes to compare.
        ulps: units of float32 rounding at the scores' scale (see the module docstring).
        msg: added to the failure message.

    Raises:
        AssertionError: a top-k class differs where the scores are further apart than rounding.
    """
    tol = same_maths_tolerance(actual, expected, ulps=ulps)
    for row, (a, e) in enumerate(zip(actual, expected, strict=True)):
        ranked = e.sort(descending=True)  # the expected order, with one more place than k
        values, order = ranked.values[:k + 1], ranked.indices[:k + 1]
        top = a.topk(k).indices
        for place in range(k):
            clear_above = place == 0 or values[place - 1] - values[place] > 2 * tol
            clear_below = values[place] - values[place + 1] > 2 * tol
            if clear_above and clear_below and int(top[place]) != int(order[place]):
                raise AssertionError(f"row {row}, place {place}: class {int(top[place])} vs "
                                     f"{int(order[place])}" + (f" ({msg})" if msg else ""))
