"""The CLI is generated from Settings: every field is a flag, and flags override env vars."""

from __future__ import annotations

import pytest

from sightd.cli import bind_host, build_parser, settings_from_args
from sightd.settings import Settings


def test_every_setting_is_a_serve_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    help_text = capsys.readouterr().out
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in help_text, name
        assert "SIGHTD_" + name.upper() in help_text


def test_flags_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGHTD_PORT", "9000")
    monkeypatch.setenv("SIGHTD_API_KEYS", "a, b")
    args = build_parser().parse_args(["serve", "--model", "/m", "--hub-offline"])
    settings = settings_from_args(args)
    assert (settings.port, settings.api_keys, settings.model, settings.hub_offline) == (
        9000,
        ["a", "b"],
        "/m",
        True,
    )
    args = build_parser().parse_args(["serve", "--port", "9100", "--path-prefix", "gemini/"])
    settings = settings_from_args(args)
    assert settings.port == 9100 and settings.path_prefix == "/gemini"


@pytest.mark.parametrize(
    ("host", "keys", "bound", "warns"),
    [
        ("0.0.0.0", [], "127.0.0.1", True),
        ("127.0.0.1", [], "127.0.0.1", True),
        ("::1", [], "::1", True),
        ("0.0.0.0", ["k"], "0.0.0.0", False),
        ("192.168.1.5", [], "127.0.0.1", True),
    ],
)
def test_no_keys_means_loopback_only(host: str, keys: list[str], bound: str, warns: bool) -> None:
    got, warning = bind_host(Settings(host=host, api_keys=keys))
    assert got == bound and bool(warning) == warns


def test_ask_takes_files_then_prompt() -> None:
    args = build_parser().parse_args(["ask", "a.jpg", "b.png", "What differs?"])
    assert args.files == ["a.jpg", "b.png"] and args.prompt == "What differs?"
