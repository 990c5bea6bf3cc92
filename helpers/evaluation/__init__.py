"""Evaluation: tests of explanation maps, measured rather than assumed (notebook 08).

The maps themselves are computed in :mod:`helpers.maps`; this subpackage only asks of them
whether they follow the model: what removing the patches they rank first does, whether they
change when the weights are randomised, whether the heads they rank first matter.

================  ============================================================================
``removal``       what removing a patch means: a fill (blur, mean, grey) or dropping its token
``faithfulness``  deletion and insertion curves (batched, ties broken at random), their AUC,
                  :func:`deletion_insertion` for curves + AUC + intervals in one call
``reliability``   bootstrap intervals and their coverage, held-out leads, Kendall's τ between
                  the rankings two metrics give
``sanity``        the randomisation cascade (to the input) and its independent variant,
                  Spearman rank correlation (undefined for constant maps)
``ablation``      attention heads gated or switched off (to zero or their mean) per image, the
                  head-gate gradient that predicts it
================  ============================================================================
"""
