"""helpers.setup.network: a bounded, cached probe of the hub host, and the offline switches.

The probe tests never touch the internet: they point ``HUB_HOST`` at loopback sockets
they open themselves, or replace ``socket.create_connection``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from helpers.setup import network
from helpers.setup.config import OFFLINE_ENV
from helpers.setup.network import NetworkStatus, check_network, is_online


@pytest.fixture
def connect_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace socket.create_connection with a recorder that refuses every connection."""
    calls: list[tuple] = []

    def refuse(address, *args, **kwargs):
        calls.append(address)
        raise ConnectionRefusedError(111, "Connection refused (test double)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return calls


@pytest.fixture
def closed_port() -> int:
    """A loopback port that was just bound and closed, so nothing listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port with a listening socket (connections complete in the backlog)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# --------------------------------------------------------------------------- forced offline


@pytest.mark.network_probe
@pytest.mark.parametrize("variable", [OFFLINE_ENV, "HF_HUB_OFFLINE"])
@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_forced_offline_makes_no_probe(monkeypatch: pytest.MonkeyPatch, connect_calls: list,
                                       variable: str, value: str) -> None:
    """Either offline flag decides at once, names itself in the reason, opens no socket."""
    monkeypatch.setenv(variable, value)
    status = check_network()
    assert status == NetworkStatus(False, status.reason)
    assert variable in status.reason
    assert status.reason.startswith("offline")
    assert is_online() is False
    assert connect_calls == []


@pytest.mark.network_probe
def test_false_flag_does_not_force_offline(monkeypatch: pytest.MonkeyPatch,
                                           connect_calls: list) -> None:
    """``VIT_NOTEBOOKS_OFFLINE=0`` is not a request for offline mode: the probe runs."""
    monkeypatch.setenv(OFFLINE_ENV, "0")
    monkeypatch.setattr(network, "HUB_HOST", ("127.0.0.1", 9))
    status = check_network(timeout=1.0)
    assert connect_calls == [("127.0.0.1", 9)]
    assert not status.online
    assert OFFLINE_ENV not in status.reason


def test_autouse_fixture_forces_offline(connect_calls: list) -> None:
    """Every unmarked test runs with the offline flag, so no test can reach the hub."""
    status = check_network()
    assert not status.online
    assert OFFLINE_ENV in status.reason
    assert connect_calls == []


# --------------------------------------------------------------------------- real probes


@pytest.mark.network_probe
def test_probe_closed_port_is_offline_quickly(monkeypatch: pytest.MonkeyPatch,
                                              closed_port: int) -> None:
    monkeypatch.setattr(network, "HUB_HOST", ("127.0.0.1", closed_port))
    start = time.perf_counter()
    status = check_network(timeout=2.5)
    elapsed = time.perf_counter() - start
    assert status.online is False
    assert status.reason.startswith("offline (127.0.0.1 unreachable")
    assert elapsed < 1.0, f"a refused connection took {elapsed:.2f} s"


@pytest.mark.network_probe
def test_probe_listening_port_is_online(monkeypatch: pytest.MonkeyPatch,
                                        listening_port: int) -> None:
    monkeypatch.setattr(network, "HUB_HOST", ("127.0.0.1", listening_port))
    status = check_network(timeout=2.5)
    assert status == NetworkStatus(True, "online (127.0.0.1 reachable)")
    assert is_online() is True


@pytest.mark.network_probe
def test_probe_that_hangs_is_cut_off_at_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connect (or name lookup) that never returns cannot hold the caller past the limit."""
    release = threading.Event()
    calls: list[tuple] = []

    def hang(address, *args, **kwargs):
        calls.append(address)
        release.wait(10.0)  # a 10 s hang; set in teardown so the daemon thread ends
        raise TimeoutError("released by the test")

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setattr(network, "HUB_HOST", ("hub.invalid", 443))
    timeout = 0.5
    try:
        start = time.perf_counter()
        status = check_network(timeout=timeout)
        elapsed = time.perf_counter() - start
    finally:
        release.set()
    assert calls == [("hub.invalid", 443)]
    assert status == NetworkStatus(False, "offline (hub.invalid did not answer within 0.5 s)")
    assert elapsed < timeout + 0.5, f"probe took {elapsed:.2f} s with timeout={timeout}"


# --------------------------------------------------------------------------- caching


@pytest.mark.network_probe
def test_result_is_cached_until_cache_clear(monkeypatch: pytest.MonkeyPatch,
                                            connect_calls: list) -> None:
    monkeypatch.setattr(network, "HUB_HOST", ("127.0.0.1", 9))
    first = check_network()
    second = check_network()
    assert is_online() is False
    assert second is first
    assert len(connect_calls) == 1, "the second call probed again"
    check_network.cache_clear()
    check_network()
    assert len(connect_calls) == 2, "cache_clear() did not allow a fresh probe"


@pytest.mark.network_probe
def test_cached_answer_survives_a_flag_change(monkeypatch: pytest.MonkeyPatch,
                                              listening_port: int) -> None:
    """The answer is decided once per process: setting the flag later does not change it."""
    monkeypatch.setattr(network, "HUB_HOST", ("127.0.0.1", listening_port))
    assert check_network().online
    monkeypatch.setenv(OFFLINE_ENV, "1")
    assert check_network().online
    check_network.cache_clear()
    assert not check_network().online
