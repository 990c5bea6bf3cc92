"""Notebook setup: what the first cell of every notebook runs, and what it reads.

==============  ==============================================================================
``notebook``    :func:`setup_notebook` (the setup cell's one call): installs, inline
                figures, one report of versions, device, network and weights; ``SETUP_CELL``
``config``      the environment variables (weights folder, data folder, offline, smoke mode)
``network``     one bounded, cached probe of the model hub: online or not, decided once
``packages``    the course's version bounds, what a runtime lacks, and the setup's one install
                (only what is missing or too old; never torch or torchvision)
``korean``      the Korean edition (notebooks/ko/): detecting it, its font (NanumGothic), its
                exercise messages
``run_time``    measured run-time estimates: time one batch of a cell's work on this machine,
                extrapolate, print one line (:func:`~helpers.setup.run_time.announce`)
==============  ==============================================================================

Importing this package is cheap: no deep-learning library is imported.
"""

from helpers.setup.notebook import setup_notebook

__all__ = ["setup_notebook"]
