"""Maps: per-image explanations computed from a model (tensors in, tensors out; no drawing).

Whether a map is faithful to the model is measured in :mod:`helpers.evaluation`; image
embeddings are in :mod:`helpers.models.embeddings`.

======================  ==========================================================================
``capture``             :func:`capture_attention`: every layer's attention probabilities,
                        any library
``rollout``             attention rollout, plus the explorer's numpy fast path
                        (:func:`cls_rollout`, :func:`discard_thresholds`)
``attention_distance``  the ViT paper's mean attention distance per layer and head: not a map
                        of one photo but a summary of the same captured attention, so beside it
``gradients``           class-specific maps: gradient-weighted attention, gradient rollout,
                        Chefer relevance
``dino``                DINO's maps: class-token attention, mass-threshold masks, token norms, PCA
``attribution``         one map per image from each method notebook 08 tests (random, edges,
                        attention, rollout, gradients, Grad-CAM via ``grad-cam``, occlusion via
                        captum), timed
======================  ==========================================================================
"""
