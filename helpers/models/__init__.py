"""TODO map."""

from helpers.models.libraries import LIBRARIES
from helpers.models.loaded import LoadedModel
from helpers.models.loading import DEFAULT_NAMES, PINNED_REVISIONS, STAND_IN_ARCH, load

__all__ = ["LIBRARIES", "DEFAULT_NAMES", "PINNED_REVISIONS", "STAND_IN_ARCH", "LoadedModel",
           "load"]
