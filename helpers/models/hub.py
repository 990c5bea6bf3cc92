"""Downloads from the Hugging Face hub, pinned to commits and checked against known hashes.

transformers and timm both fetch their weights from the hub (``huggingface.co``, or whatever
``HF_ENDPOINT`` names). A repository can change under a course, so every download the course
makes names a commit where one is known (:data:`PINNED_REVISIONS`), and files whose content is
known are checked after download (:data:`PINNED_FILES`: size and SHA-256). The cache is
huggingface_hub's own; a second load, and any offline load, reads it without the network.

Not pinned: ``timm/vit_base_patch16_224.dino``, whose commit could not be read off the hub
from where this course was built; it loads the repository's main branch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PINNED_REVISIONS", "PINNED_FILES", "MissingHubFile", "endpoint", "hub_offline",
           "download", "cached_file", "verify_file", "discard_broken_weights"]

#: Hub commits the downloads are pinned to, by repository id, so a changed repository cannot
#: change what a lesson loads. torchvision needs no entry: its weight URLs carry a hash prefix
#: that ``get_model`` checks.
PINNED_REVISIONS = {
    "google/vit-base-patch16-224": "3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3",
    "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k": "063c6c38a5d8510b2e57df480445e94b231dad2c",
}

#: ``(repository, file)`` -> ``(size in bytes, SHA-256)`` of files whose content is known; a
#: download that differs is refused (and removed from the cache).
PINNED_FILES = {
    ("timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", "model.safetensors"):
        (346_284_714, "32aa17d6e17b43500f531d5f6dc9bc93e56ed8841b8a75682e1bb295d722405b"),
}


class MissingHubFile(ValueError):
    """The repository exists at that revision but does not hold the file."""


def endpoint() -> str:
    """The hub the downloads come from: ``HF_ENDPOINT`` if set, else huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Stop huggingface_hub's side requests (user-agent lookups) even with local_files_only.

    huggingface_hub reads ``constants.HF_HUB_OFFLINE`` on every call, so setting it for the
    duration of a cache-only load is enough; the previous value is always restored.
    """
    import huggingface_hub.constants as constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def verify_file(path: str | Path, repo: str, filename: str) -> None:
    """Check a downloaded file against :data:`PINNED_FILES` (no entry: nothing to check).

    Raises:
        ValueError: the size or SHA-256 differs; the file is removed from the cache so that
            the next load downloads it again.
    """
    known = PINNED_FILES.get((repo, filename))
    if known is None:
        return
    size, sha256 = known
    path = Path(path)
    actual_size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    if actual_size != size or digest.hexdigest() != sha256:
        _remove_cached(path)
        raise ValueError(
            f"{repo}/{filename} from {endpoint()} is not the pinned file: {actual_size:,} bytes "
            f"with SHA-256 {digest.hexdigest()[:16]}…, expected {size:,} bytes with "
            f"{sha256[:16]}… (a truncated or changed download). It was removed from the "
            "cache; run the cell again to download it afresh.")


def _remove_cached(path: str | Path) -> None:
    """Remove a cached file: the snapshot link and the blob it points to (else the hub
    client would link the same broken blob again instead of downloading)."""
    path = Path(path)
    for target in {path.resolve(), path}:
        with contextlib.suppress(OSError):
            target.unlink()


def download(repo: str, filename: str) -> str:
    """Download one file of ``repo`` at its pinned commit (or main) into the hub cache.

    Returns:
        The cached file's path, checked with :func:`verify_file`.

    Raises:
        MissingHubFile: the repository (at that revision) has no such file.
        ValueError: the repository or revision does not exist there, the download failed,
            or the file is not the pinned one; the message names repository, file and commit.
    """
    from huggingface_hub import hf_hub_download

    revision = PINNED_REVISIONS.get(repo)
    try:
        path = hf_hub_download(repo, filename, revision=revision)
    except Exception as err:  # noqa: BLE001 - hub errors have many classes; all mean "could not"
        at = f" at commit {revision}" if revision else ""
        kind = MissingHubFile if type(err).__name__ == "EntryNotFoundError" else ValueError
        raise kind(f"could not download {repo}/{filename}{at} from {endpoint()}: "
                   f"{type(err).__name__}: {str(err).strip()[:300]}") from None
    verify_file(path, repo, filename)
    return path


def cached_file(repo: str, filenames: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of ``filenames`` already in the hub cache at the pinned commit (or main).

    Returns:
        ``(filename, path)``, or None when none is cached.
    """
    from huggingface_hub import try_to_load_from_cache

    revision = PINNED_REVISIONS.get(repo)
    for filename in filenames:
        path = try_to_load_from_cache(repo, filename, revision=revision)
        if isinstance(path, str):
            return filename, path
    return None


def discard_broken_weights(repo: str, error: BaseException) -> str | None:
    """If ``error`` says a cached weights file of ``repo`` cannot be read, remove that file.

    A truncated or corrupt ``model.safetensors`` fails deep inside the safetensors reader with
    "incomplete metadata" or "header too large", naming no file. This names it, and removes it
    from the cache so that the next load downloads it again.

    Returns:
        One sentence naming the repository and the file, or None for any other error.
    """
    if type(error).__name__ != "SafetensorError":
        return None
    found = cached_file(repo, ("model.safetensors",))
    where = found[1] if found else "the hub cache"
    if found:
        _remove_cached(found[1])
    return (f"{repo}/model.safetensors is truncated or corrupt ({str(error).strip()[:120]}); "
            f"it was removed from {where}, so running the cell again downloads it afresh")
