"""Notebook 03 exercise checks: references pass, typical mistakes fail, errors are caught."""

from __future__ import annotations

import torch

from helpers.exercises.embeddings import (
    check_cosine_similarity,
    check_knn_predict,
    check_mean_pool,
    reference_cosine_similarity,
    reference_knn_predict,
    reference_mean_pool,
)


def test_cosine_similarity_reference_passes_and_dot_product_fails():
    assert check_cosine_similarity(reference_cosine_similarity).max_error < 1e-6
    assert not check_cosine_similarity(lambda a, b: a @ b.T)
    assert not check_cosine_similarity(lambda a, b: reference_cosine_similarity(b, a))
    result = check_cosine_similarity(lambda a, b: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message


def test_cosine_similarity_reference_properties():
    x = torch.randn(5, 7)
    sim = reference_cosine_similarity(x, 3 * x)
    assert torch.allclose(sim.diagonal(), torch.ones(5), atol=1e-6)
    assert sim.abs().max() <= 1 + 1e-6


def test_mean_pool_reference_passes_and_including_cls_fails():
    assert check_mean_pool(reference_mean_pool).passed
    assert not check_mean_pool(lambda states, num_prefix: states.mean(dim=1))
    assert not check_mean_pool(lambda states, num_prefix: states[:, 1:].mean(dim=1))  # prefix 2
    assert not check_mean_pool(lambda states, num_prefix: states[:, 0])


def test_knn_reference_passes_and_euclidean_fails():
    assert check_knn_predict(reference_knn_predict).passed

    def euclidean(train, labels, test, k):
        neighbours = torch.cdist(test, train).topk(k, largest=False).indices
        return labels[neighbours].mode(dim=1).values

    assert not check_knn_predict(euclidean)

    def farthest(train, labels, test, k):
        sim = reference_cosine_similarity(test, train)
        return labels[sim.topk(k, largest=False).indices].mode(dim=1).values

    assert not check_knn_predict(farthest)
    assert not check_knn_predict(lambda train, labels, test, k: labels[:1])


def test_knn_reference_agrees_with_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    generator = torch.Generator().manual_seed(3)
    train, test = torch.randn(50, 6, generator=generator), torch.randn(20, 6, generator=generator)
    labels = (train[:, 0] > 0).long() + (train[:, 1] > 0).long()  # 3 classes
    ours = reference_knn_predict(train, labels, test, k=5)
    sklearn = KNeighborsClassifier(5, metric="cosine").fit(train.numpy(), labels.numpy())
    agree = (ours.numpy() == sklearn.predict(test.numpy())).mean()
    assert agree >= 0.9  # they may break vote ties differently


def test_unanswered_stubs_fail_with_a_hint():
    for result in [check_cosine_similarity(lambda a, b: None),
                   check_mean_pool(lambda states, num_prefix: None),
                   check_knn_predict(lambda train, labels, test, k: None)]:
        assert not result.passed and "returned None" in result.message
