"""Keras 3 (torch backend): the ViT of notebook 06, trained from scratch.

===============  =============================================================================
``backend``      :func:`ensure_torch_backend`: Keras picks its backend once, at first import
``model``        the keras-io seed's ViT and an improved one (:class:`KerasViTConfig`)
``augment``      the seed's augmentation and the classic CIFAR flip-and-shift
``training``     training recipes, :func:`train` with best-epoch restore, time budgets, scores
``checkpoints``  best-epoch checkpoints a run can resume from
``estimate``     :func:`training_estimate`: a fit's run time, measured on one batch first
``attention``    attention scores read from a trained model's own layers
``figures``      patches, learning curves, predictions, attention over images
===============  =============================================================================

Every module here imports keras (after setting the backend); the package itself does not.
"""
