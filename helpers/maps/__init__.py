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
``faithfulness``  deletion and insertion curves (batched), their AUC, bootstrap intervals
``sanity``        the model-parameter randomisation cascade, Spearman rank correlation
``ablation``      attention heads switched off per image (a causal test), head importance
================  ============================================================================
"""
