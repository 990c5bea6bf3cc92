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

from helpers.exercises import CheckResult, shape_of, unanswered
from helpers.exercises import failure as _failure

__all__ = [
    "reference_cosine_similarity",
    "reference_mean_pool",
    "reference_knn_predict",
    "check_cosine_similarity",
    "check_mean_pool",
    "check_knn_predict",
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
    name = "cosine_similarity"
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for n, m, d in [(4, 4, 8), (6, 3, 16), (1, 5, 32)]:
        a, b = _scaled_rows(generator, n, d), _scaled_rows(generator, m, d)
        want = reference_cosine_similarity(a, b)  # (n, m)
        try:
            got = fn(a.clone(), b.clone())
            if got is None:
                return unanswered(name)
        except Exception as err:  # noqa: BLE001 - any error in the answer is a fail
            return _failure(name, err)
        if shape_of(got) != (n, m):
            return CheckResult(name, False, float("inf"),
                               f"a {tuple(a.shape)} and b {tuple(b.shape)}: expected shape "
                               f"{(n, m)}, got {shape_of(got)}")
        worst = max(worst, float((got.detach().float() - want).abs().max()))
    passed = worst <= 1e-5
    message = "matches for rows of any length" if passed else (
        "values differ: divide each row by its length before the dot product")
    return CheckResult(name, passed, worst, message)


def check_mean_pool(fn: Callable[[torch.Tensor, int], Any]) -> CheckResult:
    """Check ``fn(states, num_prefix)`` -> (B, D) mean of the patch tokens only."""
    name = "mean_pool"
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for b, t, d, prefix in [(2, 17, 8, 1), (3, 5, 4, 1), (1, 10, 6, 2)]:
        states = torch.randn(b, t, d, generator=generator)  # (B, T, D)
        states[:, :prefix] += 50.0  # a prefix token that would visibly shift a wrong mean
        want = reference_mean_pool(states, prefix)  # (B, D)
        try:
            got = fn(states.clone(), prefix)
            if got is None:
                return unanswered(name)
        except Exception as err:  # noqa: BLE001
            return _failure(name, err)
        if shape_of(got) != (b, d):
            return CheckResult(name, False, float("inf"),
                               f"states {(b, t, d)}: expected shape {(b, d)}, got {shape_of(got)}")
        error = float((got.detach().float() - want).abs().max())
        worst = max(worst, error)
        if error > 1e-5:
            return CheckResult(name, False, error,
                               f"with {prefix} prefix token(s): average only the patch tokens "
                               f"states[:, {prefix}:]")
    return CheckResult(name, True, worst, "patch tokens averaged, prefix left out")


def check_knn_predict(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], Any]
                      ) -> CheckResult:
    """Check ``fn(train, train_labels, test, k)`` -> (M,) labels by cosine k-NN majority vote.

    Two classes and odd k, so no vote ties; the embeddings' lengths vary a lot, so
    Euclidean neighbours give different answers from cosine ones.
    """
    name = "knn_predict"
    generator = torch.Generator().manual_seed(2)
    for n, m, d, k in [(40, 30, 8, 1), (60, 40, 16, 5), (30, 20, 4, 3)]:
        train = _scaled_rows(generator, n, d)  # (n, d)
        test = _scaled_rows(generator, m, d)  # (m, d)
        labels = (train[:, 0] > 0).long()  # (n,): the class is a direction, not a length
        want = reference_knn_predict(train, labels, test, k)  # (m,)
        try:
            got = fn(train.clone(), labels.clone(), test.clone(), k)
            if got is None:
                return unanswered(name)
            got = torch.as_tensor(got)
        except Exception as err:  # noqa: BLE001
            return _failure(name, err)
        if tuple(got.shape) != (m,):
            return CheckResult(name, False, float("inf"),
                               f"expected one label per test row, shape {(m,)}, got "
                               f"{tuple(got.shape)}")
        wrong = int((got.long() != want).sum())
        if wrong:
            return CheckResult(name, False, float(wrong),
                               f"k={k}: {wrong} of {m} labels differ (max error counts them); "
                               "use cosine similarity and a majority vote of the k nearest")
    return CheckResult(name, True, 0.0, "every label matches")
