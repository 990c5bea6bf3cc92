"""TODO map."""

from helpers.models.libraries import LIBRARIES
from helpers.models.loading import (
    DEFAULT_NAMES,
    PINNED_REVISIONS,
    STAND_IN_ARCH,
    LoadedModel,
    load,
)

__all__ = ["LIBRARIES", "DEFAULT_NAMES", "PINNED_REVISIONS", "STAND_IN_ARCH", "LoadedModel",
           "load"]
