"""Exercises of notebook 03 (the CLS token and image embeddings): checks and reference
solutions.

A check never trusts the answer: it calls it on seeded inputs it makes itself, compares
with the reference, and returns a :class:`~helpers.exercises.CheckResult`. The inputs are
chosen so that the typical mistakes (no normalisation, the class token averaged in with the
patches, Euclidean instead of cosine neighbours) give different answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from helpers.exercises import (
    Case,
    CheckResult,
    WrongAnswer,
    check_prediction,
    require_close,
    run_check,
    tensor_error,
)

__all__ = [
    "reference_cosine_similarity",
    "reference_mean_pool",
    "reference_knn_predict",
    "check_cosine_similarity",
    "check_mean_pool",
    "check_knn_predict",
    "reference_hidden_state_size",
    "check_hidden_state_size",
]


# ----------------------------------------------------------------------------- solutions


def reference_cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``.

    Args:
        a: (N, D) embeddings.
        b: (M, D) embeddings.

    Returns:
        (N, M) similarities in [-1, 1].
    """
    a = torch.nn.functional.normalize(a, dim=-1)  # (N, D), unit rows
    b = torch.nn.functional.normalize(b, dim=-1)  # (M, D), unit rows
    return a @ b.T  # (N, M)


def reference_mean_pool(states: torch.Tensor, num_prefix: int = 1) -> torch.Tensor:
    """Average the patch tokens, leaving out the class token (and any other prefix token).

    Args:
        states: (B, T, D) final token states, prefix tokens first.
        num_prefix: How many leading tokens are not patches.

    Returns:
        (B, D).
    """
    return states[:, num_prefix:].mean(dim=1)  # (B, D)


def reference_knn_predict(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                          k: int) -> torch.Tensor:
    """Label each test embedding by a majority vote of its k most cosine-similar train ones.

    Args:
        train: (N, D) embeddings.
        train_labels: (N,) integer labels.
        test: (M, D) embeddings.
        k: Neighbours per vote.

    Returns:
        (M,) int64 predicted labels (ties go to the smaller label).
    """
    similarity = reference_cosine_similarity(test, train)  # (M, N)
    neighbours = similarity.topk(k, dim=1).indices  # (M, k)
    votes = train_labels[neighbours]  # (M, k)
    num_classes = int(train_labels.max()) + 1
    counts = torch.nn.functional.one_hot(votes, num_classes).sum(dim=1)  # (M, classes)
    return counts.argmax(dim=1)  # (M,)


# ----------------------------------------------------------------------------- checks


def _scaled_rows(generator: torch.Generator, n: int, d: int) -> torch.Tensor:
    """(n, d) random rows with very different lengths, so normalising matters."""
    x = torch.randn(n, d, generator=generator)  # (n, d)
    return x * torch.empty(n, 1).uniform_(0.1, 10.0, generator=generator)  # (n, d)


def check_cosine_similarity(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> CheckResult:
    """Check ``fn(a, b)`` -> (N, M) cosine similarities, on rows of very different lengths."""
    generator = torch.Generator().manual_seed(0)
    cases = []
    for n, m, d in [(4, 4, 8), (6, 3, 16), (1, 5, 32)]:
        a, b = _scaled_rows(generator, n, d), _scaled_rows(generator, m, d)  # (n, d), (m, d)
        cases.append(Case(f"a {tuple(a.shape)} and b {tuple(b.shape)}", (a, b),
                          reference_cosine_similarity(a, b)))  # (n, m)

    def judge(case: Case, got: torch.Tensor) -> float:
        return require_close(tensor_error(got, case.want), 1e-5,
                             "divide each row by its length before the dot product")

    return run_check("cosine_similarity", fn, cases, judge, "matches for rows of any length")


def check_mean_pool(fn: Callable[[torch.Tensor, int], Any]) -> CheckResult:
    """Check ``fn(states, num_prefix)`` -> (B, D) mean of the patch tokens only."""
    generator = torch.Generator().manual_seed(1)
    cases = []
    for b, t, d, prefix in [(2, 17, 8, 1), (3, 5, 4, 1), (1, 10, 6, 2)]:
        states = torch.randn(b, t, d, generator=generator)  # (B, T, D)
        states[:, :prefix] += 50.0  # a prefix token that would visibly shift a wrong mean
        cases.append(Case(f"states {(b, t, d)} with {prefix} prefix token(s)", (states, prefix),
                          reference_mean_pool(states, prefix)))  # (B, D)

    def judge(case: Case, got: torch.Tensor) -> float:
        prefix = case.args[1]
        return require_close(tensor_error(got, case.want), 1e-5,
                             f"average only the patch tokens states[:, {prefix}:]")

    return run_check("mean_pool", fn, cases, judge, "patch tokens averaged, prefix left out")


def check_knn_predict(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], Any]
                      ) -> CheckResult:
    """Check ``fn(train, train_labels, test, k)`` -> (M,) labels by cosine k-NN majority vote.

    Two classes and odd k, so no vote ties; the embeddings' lengths vary a lot, so
    Euclidean neighbours give different answers from cosine ones.
    """
    generator = torch.Generator().manual_seed(2)
    cases = []
    for n, m, d, k in [(40, 30, 8, 1), (60, 40, 16, 5), (30, 20, 4, 3)]:
        train = _scaled_rows(generator, n, d)  # (n, d)
        test = _scaled_rows(generator, m, d)  # (m, d)
        labels = (train[:, 0] > 0).long()  # (n,): the class is a direction, not a length
        cases.append(Case(f"train {tuple(train.shape)}, test {tuple(test.shape)}, k={k}",
                          (train, labels, test, k),
                          reference_knn_predict(train, labels, test, k)))  # (m,)

    def judge(case: Case, got: Any) -> float:
        want = case.want  # (M,)
        expected = f"one label per test row, shape {tuple(want.shape)}"
        try:
            got = torch.as_tensor(got)
        except (TypeError, ValueError, RuntimeError):
            raise WrongAnswer(expected, type(got).__name__, "return a tensor of labels") from None
        if tuple(got.shape) != tuple(want.shape):
            raise WrongAnswer(expected, f"{tuple(got.shape)}",
                              "one vote per test embedding, over its k nearest train ones")
        wrong = int((got.long() != want).sum())
        if wrong:
            raise WrongAnswer("the reference's labels",
                              f"{wrong} of {len(want)} labels different (max error counts them)",
                              "use cosine similarity and a majority vote of the k nearest",
                              float(wrong))
        return 0.0

    return run_check("knn_predict", fn, cases, judge, "every label matches")


# ----------------------------------------------------------------------------- predict, then verify


def reference_hidden_state_size() -> int:
    """Numbers in ``last_hidden_state`` for 2 photos in a ViT-L/14-shaped ``ViTModel``.

    Notebook 03 shows ViT-B/16's (batch, 197, 768), so the prediction asks for another patch
    size and width: ViT-L/14 at 224 px, D = 1024. Runs a one-block ``ViTModel`` of that shape
    (random weights: the shape does not depend on the weights or the depth) on a
    (2, 3, 224, 224) batch of zeros.
    """
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(hidden_size=1024, num_hidden_layers=1, num_attention_heads=16,
                       intermediate_size=4096, image_size=224, patch_size=14)
    model = ViTModel(config, add_pooling_layer=False).eval()
    with torch.inference_mode():
        states = model(pixel_values=torch.zeros(2, 3, 224, 224)).last_hidden_state  # (2, 257, 1024)
    return int(states.numel())


def check_hidden_state_size(prediction: int) -> CheckResult:
    """Predict, then verify: how many numbers ``last_hidden_state`` holds for 2 photos."""
    return check_prediction(
        "hidden_state_size", prediction, reference_hidden_state_size(), 0.0,
        "one 1024-long vector per token and photo: (224 / 14)² = 256 patches plus the class token",
        relative=False, what="last_hidden_state.numel() for 2 photos in ViT-L/14")
