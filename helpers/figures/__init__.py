"""Figures: arrays in, a ``matplotlib.figure.Figure`` out (no ``plt.show``, no global state).

=================  ===========================================================================
``maps``           the one way a map is drawn over a photo: :func:`draw_map`, :func:`map_grid`,
                   :func:`attention_overlays`, and the colours the explorers precompute
``arrays``         :func:`as_array`, the one tensor-to-numpy conversion every figure uses
``photos``         photo grids and a photo beside its top-k classes
``vit``            a ViT's insides: patch grid, embedding filters, position similarities,
                   attention distance by depth (the ViT paper's Figure 7)
``embeddings``     similarity heatmaps and nearest-neighbour rows
``preprocessing``  each preprocessing stage beside a histogram of its values
``faithfulness``   deletion / insertion curves, results with intervals, the randomisation
                   cascade, head ablation (notebook 08)
``training``       fine-tuning runs: accuracy against minutes, loss per step, a learning-rate
                   schedule (notebook 09)
=================  ===========================================================================

The Keras notebook's figures are in :mod:`helpers.keras.figures`.
"""
