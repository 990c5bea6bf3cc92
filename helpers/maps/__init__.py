"""Maps: per-image explanations computed from a model (tensors in, tensors out; no drawing).

Whether a map is faithful to the model is measured in :mod:`helpers.evaluation`.

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
================  ============================================================================
"""
