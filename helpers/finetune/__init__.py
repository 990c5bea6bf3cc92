"""Fine-tuning a pretrained timm ViT on new classes (notebook 09), in small readable steps.

===============  ==============================================================================
``data``         :class:`ImageSplit` (uint8 images in memory) and :class:`PixelPipeline` (a
                 batch's crop, flip, resize and the weights' own mean / std)
``folders``      your own photos: ``ImageFolder`` checked before training
                 (:func:`check_image_folder`, one :class:`FolderProblem` listing every path)
``methods``      the five ways (:data:`METHODS`), the fine-tuning copy of a pretrained model
                 (new head, input size, PatchDropout) and :func:`prepare`
``freezing``     what each method trains: new head, freeze / unfreeze, parameter counts
``lora``         LoRA through ``peft``: adapters on ``qkv``, merging, adapter-only files
``features``     the linear probe: frozen features of the last blocks, a logistic regression,
                 its head for LP-FT
``schedules``    warm-up then cosine: :func:`warmup_cosine` and a ``LambdaLR``
``precision``    autocast decided at run time (16-bit on a GPU, bfloat16 on a CPU only where
                 it is native), printed in one line
``loop``         :func:`fit`: the plain training loop (AdamW, label smoothing, clipping,
                 evaluation, checkpoints, resume), :class:`TrainConfig`, :class:`History`
``evaluation``   accuracy on a split, with flip averaging
``checkpoints``  resumable safetensors checkpoints (weights, optimizer, schedule, history)
``recipes``      one method from the pretrained model to a test accuracy (:class:`Recipe`,
                 :func:`run_recipe`: fixed steps or a time budget), and measured estimates
``measures``     notebook 08's faithfulness measures of two models on the same images
                 (the one place that calls :mod:`helpers.evaluation.faithfulness` and
                 :mod:`helpers.evaluation.sanity`)
===============  ==============================================================================

Everything here works on timm ViTs (what ``helpers.models.load("timm", ...)`` returns); the
figures are in :mod:`helpers.figures.training`.
"""
