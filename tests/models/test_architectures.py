"""helpers.models.architectures: torchvision ViT sizes and costs from meta-device models."""

from __future__ import annotations

import pytest

from helpers.models.architectures import (
    TORCHVISION_VITS,
    describe_torchvision_vit,
    markdown_table,
    measure_latency,
)

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


@pytest.mark.parametrize("name", TORCHVISION_VITS)
def test_counted_cost_matches_torchvision_metadata(name):
    row = describe_torchvision_vit(name)
    assert row.grid == row.image_size // row.patch_size
    assert row.tokens == row.grid ** 2 + 1
    assert abs(row.gmacs - row.listed_gmacs) / row.listed_gmacs < 0.01


def test_known_numbers_for_vit_b_16():
    row = describe_torchvision_vit("vit_b_16")
    assert (row.params, row.patch_size, row.tokens) == (86_567_656, 16, 197)


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="vit_b_16"):
        describe_torchvision_vit("resnet50")


def test_latency_is_positive_and_table_renders():
    latency = measure_latency("vit_b_32", repeats=1)
    assert latency > 0
    row = describe_torchvision_vit("vit_b_32")
    row.latency_s = latency
    table = markdown_table([row, describe_torchvision_vit("vit_h_14")])
    assert "| vit_b_32 |" in table and "not timed" in table
    assert table.count("\n") == 3
    with pytest.raises(ValueError):
        measure_latency("vit_b_32", repeats=0)
