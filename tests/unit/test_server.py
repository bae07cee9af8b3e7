"""imghost.server: the config `imghost serve` runs with, and the connection gate."""

from __future__ import annotations

import logging
import pickle
import resource

import pytest

from imghost.checks import check_settings
from imghost.server import FD_RESERVE, ServerConfig, build_config, fit_file_limit
from imghost.server_protocol import ConnectionGate, LimitedHttpToolsProtocol
from imghost.settings import Settings, SettingsError


def test_config_carries_the_settings_limits_into_worker_processes() -> None:
    settings = Settings(max_header_bytes=4096, header_timeout=2.5, max_connections=50)
    config = build_config(settings, "imghost.app:create_app", factory=True, workers=2)
    # workers > 1: uvicorn pickles the config into spawned processes.
    copy = pickle.loads(pickle.dumps(config))
    assert isinstance(copy, ServerConfig)
    assert copy.http is LimitedHttpToolsProtocol
    assert copy.workers == 2
    assert (copy.limits.max_header_bytes, copy.limits.header_timeout) == (4096, 2.5)
    assert copy.limits.max_connections == 50


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_header_bytes": 0},
        {"max_headers": 0},
        {"max_url_bytes": 0},
        {"max_connections": 0},
        {"header_timeout": 0},
        {"keepalive_timeout": float("nan")},
    ],
)
def test_unusable_limits_are_refused_at_start(overrides: dict[str, float]) -> None:
    with pytest.raises(SettingsError):
        check_settings(Settings(**overrides))  # type: ignore[arg-type]


def test_cap_is_lowered_to_fit_the_open_file_limit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits = {"soft": 1024, "hard": 1024}

    def getrlimit(_: int) -> tuple[int, int]:
        return limits["soft"], limits["hard"]

    def setrlimit(_: int, value: tuple[int, int]) -> None:
        if value[0] > limits["hard"]:
            raise ValueError("over the hard limit")
        limits["soft"] = value[0]

    monkeypatch.setattr(resource, "getrlimit", getrlimit)
    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert fit_file_limit(500) == 500
    with caplog.at_level(logging.WARNING, logger="imghost.server"):
        assert fit_file_limit(5000) == 1024 - FD_RESERVE
    assert "does not fit the open-file limit" in caplog.text
    limits.update(soft=1024, hard=100_000)
    assert fit_file_limit(5000) == 5000
    assert limits["soft"] == 5000 + FD_RESERVE


def test_gate_logs_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    gate = ConnectionGate(10)
    with caplog.at_level(logging.WARNING, logger="imghost.server"):
        assert gate.admit(9)
        assert not any(gate.admit(10) for _ in range(500))
        gate.released(10)  # still at the cap: the burst goes on
        gate.released(9)
        gate.released(8)
        assert not gate.admit(10)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert messages[0].startswith("connection cap reached")
    assert "500 refused" in messages[1]
    assert messages[2].startswith("connection cap reached")
