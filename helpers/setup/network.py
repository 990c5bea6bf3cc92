"""Decide once, quickly, whether the model hub can be reached.

Hub clients retry for 23-49 s per file when the network is missing, so the course
probes the hub host itself with a short, hard time limit and then tells every loader
which path to take. The answer is cached for the life of the process.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from typing import NamedTuple
from urllib.parse import urlsplit

from helpers.setup.config import OFFLINE_ENV, flag

__all__ = ["HUB_HOST", "NetworkStatus", "hub_host", "check_network", "is_online"]

#: The host whose reachability decides online/offline (Hugging Face serves both
#: transformers and timm weights; torchvision's server is reachable whenever it is).
HUB_HOST = ("huggingface.co", 443)


def hub_host() -> tuple[str, int]:
    """``(host, port)`` of the hub the libraries will download from.

    ``HF_ENDPOINT`` (a mirror, or a test server) replaces huggingface.co when it is set, as
    it does for huggingface_hub itself; otherwise :data:`HUB_HOST`.
    """
    endpoint = os.environ.get("HF_ENDPOINT", "").strip()
    if not endpoint:
        return HUB_HOST
    parts = urlsplit(endpoint)
    if not parts.hostname:
        raise ValueError(f"HF_ENDPOINT={endpoint!r} is not a URL like https://hf-mirror.com; "
                         "fix or unset it.")
    return parts.hostname, parts.port or (80 if parts.scheme == "http" else 443)


class NetworkStatus(NamedTuple):
    """Result of the network probe.

    Attributes:
        online: True when the hub host accepted a TCP connection.
        reason: One human-readable line explaining the decision.
    """

    online: bool
    reason: str


def _probe(host: str, port: int, timeout: float) -> NetworkStatus:
    """Open a TCP connection to ``host:port``; the whole probe (DNS included) is bounded."""
    result: list[NetworkStatus] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(NetworkStatus(True, f"online ({host} reachable)"))
        except OSError as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            result.append(NetworkStatus(False, f"offline ({host} unreachable: {reason})"))

    # getaddrinfo has no timeout of its own, so the probe runs in a daemon thread.
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    if result:
        return result[0]
    return NetworkStatus(False, f"offline ({host} did not answer within {timeout:g} s)")


@functools.lru_cache(maxsize=1)
def check_network(timeout: float = 2.5) -> NetworkStatus:
    """Decide whether the model hub is reachable, in at most ``timeout`` seconds.

    ``VIT_NOTEBOOKS_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` force offline mode without a probe.
    The result is cached: call ``check_network.cache_clear()`` to probe again.

    Args:
        timeout: Upper bound in seconds for the whole probe, name lookup included.

    Returns:
        A :class:`NetworkStatus`.
    """
    if flag(OFFLINE_ENV):
        return NetworkStatus(False, f"offline (forced by {OFFLINE_ENV}=1)")
    if flag("HF_HUB_OFFLINE"):
        return NetworkStatus(False, "offline (forced by HF_HUB_OFFLINE=1)")
    host, port = hub_host()
    return _probe(host, port, timeout)


def is_online() -> bool:
    """Shorthand for ``check_network().online``."""
    return check_network().online

