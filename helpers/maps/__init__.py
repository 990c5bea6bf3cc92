"""Maps: per-image explanations computed from a model (tensors in, tensors out; no drawing).

================  ============================================================================
``capture``       :func:`capture_attention`: every layer's attention probabilities, any library
``rollout``       attention rollout and mean attention distance, plus the explorer's numpy
                  fast path (:func:`cls_rollout`, :func:`discard_thresholds`)
``gradients``     class-specific maps: gradient-weighted attention, gradient rollout, Chefer
                  relevance
``dino``          DINO's maps: class-token attention, mass-threshold masks, token norms, PCA
``embeddings``    CLS / mean-pooled / pooler embeddings of many images, batched
``attribution``   one map per image from each method notebook 08 tests (random, edges,
                  attention, rollout, gradients, Grad-CAM via ``grad-cam``, occlusion via
                  captum), timed
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
