"""Resolving `settings.model` without a network: folders as is, hub ids fail fast and helpfully."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sightd.engine.base import LoadProgress
from sightd.engine.transformers import hub
from sightd.errors import Unavailable

HUB_ID = "Qwen/Qwen3-VL-2B-Instruct"


def _assert_helpful(error: Unavailable, model: str) -> None:
    assert model in error.message
    assert "sightd serve --model /path/to/folder" in error.message
    assert "sightd models tiny DIR" in error.message
    assert "sightd serve --model DIR" in error.message


def test_existing_folder_is_used_as_is(tmp_path: Path) -> None:
    assert hub.resolve_model(str(tmp_path)) == tmp_path


@pytest.mark.parametrize("offline", [True, False])  # False: HF_HUB_OFFLINE=1 from conftest
def test_offline_hub_id_fails_with_instructions(tmp_path: Path, offline: bool) -> None:
    with pytest.raises(Unavailable) as info:
        hub.resolve_model(HUB_ID, cache_dir=tmp_path, offline=offline)
    _assert_helpful(info.value, HUB_ID)
    assert "off" in info.value.message


def test_missing_folder_is_not_mistaken_for_a_hub_id(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "model")
    with pytest.raises(Unavailable) as info:
        hub.resolve_model(missing)
    _assert_helpful(info.value, missing)
    assert "no such folder" in info.value.message


def test_unreachable_hub_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    with pytest.raises(Unavailable) as info:
        hub.resolve_model(HUB_ID, cache_dir=tmp_path)
    _assert_helpful(info.value, HUB_ID)
    assert "cannot be reached" in info.value.message


def test_progress_bar_reports_whole_percents_even_when_hidden() -> None:
    reports: list[LoadProgress] = []
    bar_class = hub._progress_bar(HUB_ID, 1000, reports.append)
    bar = bar_class(total=0, name="huggingface_hub.snapshot_download", disable=True)
    for _ in range(4):
        bar.update(105)
    bar.update(0)
    other = bar_class(total=3, desc="Fetching 3 files", disable=True)  # not the byte bar
    other.update(1)
    assert [r.fraction for r in reports] == [0.105, 0.21, 0.315, 0.42]
    assert reports[-1].stage == "downloading"
    assert reports[-1].message == f"Model {HUB_ID} is downloading (42%)"


def test_download_reports_progress_and_returns_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The online path with the hub faked: sizes from model_info, bytes from the hub's bar."""
    import huggingface_hub
    from huggingface_hub.hf_api import RepoSibling

    siblings = [
        RepoSibling("config.json", size=100),
        RepoSibling("model.safetensors", size=900),
        RepoSibling("README.md", size=5000),  # not downloaded, not counted
    ]
    info = type("Info", (), {"sha": "a" * 40, "siblings": siblings})()
    calls: dict[str, Any] = {}

    def fake_snapshot(repo_id: str, **kwargs: Any) -> str:
        calls.update(kwargs, repo_id=repo_id)
        bar = kwargs["tqdm_class"](total=0, name="huggingface_hub.snapshot_download", disable=True)
        for chunk in (100, 400, 500):
            bar.update(chunk)
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, *a, **k: info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    reports: list[LoadProgress] = []
    folder = hub.resolve_model(HUB_ID, cache_dir=tmp_path / "cache", on_progress=reports.append)
    assert folder == tmp_path
    assert calls["repo_id"] == HUB_ID
    assert calls["revision"] == "a" * 40
    assert "*.safetensors" in calls["allow_patterns"]
    assert [r.fraction for r in reports] == [0.0, 0.1, 0.5, 1.0, 1.0]
    assert reports[2].message == f"Model {HUB_ID} is downloading (50%)"
