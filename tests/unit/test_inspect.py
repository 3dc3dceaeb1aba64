"""`sightd inspect` prints what the model would see: clipping and fps visibly change the frames
and the token count, and speech shows up at its MM:SS (same code path as a request)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from sightd.cli import main
from tests.video_factory import flite_available, make_speech_video, make_video


def _inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[str], int, str]:
    assert main(["inspect", *args]) == 0
    out = capsys.readouterr().out
    frames = re.findall(r"^(\d\d:\d\d)  frame (\d+)x(\d+)$", out, re.M)
    total = int(re.search(r"tokens: (\d+)", out).group(1))  # type: ignore[union-attr]
    return [f[0] for f in frames], total, out


def test_fps_and_clip_change_frames_and_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = make_video(tmp_path / "v.mp4", 6, 10, (160, 120), "mp4", with_audio=True)
    data = ["--data-dir", str(tmp_path / "data"), "--speech-backend", "none"]
    times, total, out = _inspect(capsys, str(video), *data)
    assert times == ["00:00", "00:01", "00:02", "00:03", "00:04", "00:05"]
    assert total == 6 * 258 + 6 * 32 and "VIDEO 1548, AUDIO 192" in out
    times, total, _ = _inspect(capsys, str(video), "--fps", "2", *data)
    assert len(times) == 12 and total == 12 * 258 + 6 * 32
    times, total, _ = _inspect(capsys, str(video), "--start", "2", "--end", "4", *data)
    assert times == ["00:02", "00:03"] and total == 2 * 258 + 2 * 32
    times, total, out = _inspect(capsys, str(video), "--resolution", "low", *data)
    assert total == 6 * 66 + 6 * 32
    assert "frame 160x120" not in out or "frame 256" not in out


@pytest.mark.skipif(not flite_available(), reason="flite (Debian package) synthesises the speech")
def test_transcript_words_at_their_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = make_speech_video(
        tmp_path / "s.mp4", "the quick brown fox jumps over the lazy dog", at_s=64.0
    )
    _, _, out = _inspect(capsys, str(video), "--data-dir", str(tmp_path / "data"), "--fps", "0.25")
    lines = [line for line in out.splitlines() if "(audio)" in line]
    assert lines, out
    stamp, words = lines[0].split(" (audio) ")
    assert stamp in ("[01:03]", "[01:04]", "[01:05]")
    assert {"quick", "fox", "lazy", "dog"} & set(words.split())


@pytest.mark.parametrize(
    ("model", "how"),
    [
        ("Qwen/Qwen3-VL-2B-Instruct", "native (one video; each pair of frames after its source"),
        ("Qwen/Qwen2.5-VL-3B-Instruct", "native (one video; the header says where it starts)"),
        ("HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "frames (each an image after its MM:SS)"),
    ],
)
def test_says_whether_the_video_goes_in_natively(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, how: str
) -> None:
    video = make_video(tmp_path / "v.mp4", 3, 10, (160, 120), "mp4", with_audio=False)
    data = ["--data-dir", str(tmp_path / "data"), "--speech-backend", "none"]
    times, _, out = _inspect(capsys, str(video), "--model", model, "--start", "1", *data)
    assert f"video goes in as {how}" in out
    assert times == ["00:01", "00:02"]  # the frames and their source times either way
    if how.startswith("native"):
        assert "each frame follows its MM:SS" not in out


def test_html_view_has_the_frames_at_their_times_and_escapes_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from html.parser import HTMLParser

    from sightd.services.inspect import Inspection, SeenFrame, SeenSpeech, to_html

    xss = "<img src=x onerror=alert(1)>"
    video = make_video(tmp_path / f"{xss}.mp4", 4, 10, (160, 120), "mp4", with_audio=False)
    out = tmp_path / "view.html"
    data = ["--data-dir", str(tmp_path / "data"), "--speech-backend", "none"]
    times, total, printed = _inspect(capsys, str(video), "--html", str(out), *data)
    assert f"wrote {out}" in printed

    class Seen(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[tuple[str, dict[str, str | None]]] = []
            self.times: list[str] = []
            self._in_time = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append((tag, dict(attrs)))
            self._in_time = tag == "time"

        def handle_data(self, data: str) -> None:
            if self._in_time:
                self.times.append(data)
                self._in_time = False

    page = out.read_text(encoding="utf-8")
    seen = Seen()
    seen.feed(page)
    imgs = [a for t, a in seen.tags if t == "img"]
    assert len(imgs) == len(times) == 4
    assert all((a["src"] or "").startswith("data:image/jpeg;base64,") for a in imgs)
    assert seen.times == times == ["00:00", "00:01", "00:02", "00:03"]
    assert not any(t == "script" or any(k.startswith("on") for k in a) for t, a in seen.tags)
    assert xss not in page and html.escape(xss) in page
    assert f"4 frames; tokens: {total} " in page

    # A transcript line is text, never markup.
    frame = SeenFrame(62.0, 8, 8, "data:image/jpeg;base64,AA==")
    view = Inspection(xss, "h", "frames", (frame,), (SeenSpeech(61.5, 63.0, xss),), {"VIDEO": 1})
    page = to_html(view)
    assert xss not in page and page.count(html.escape(xss)) == 3  # title, heading, speech
    seen = Seen()
    seen.feed(page)
    assert [t for t, _ in seen.tags].count("img") == 1
    assert seen.times == ["01:02", "01:01"]


def test_the_models_own_count_beside_geminis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the model's files on this machine, inspect also prints the model's own token count
    of the video (its processor, no weights loaded): what a request with it makes the model
    read. A hub id that is not downloaded says the count is unknown instead of downloading."""
    pytest.importorskip("transformers")
    from sightd.testing.tiny import build_tiny

    folder = build_tiny(tmp_path / "tiny-qwen3-vl", "qwen3-vl")
    video = make_video(tmp_path / "v.mp4", 4, 10, (160, 120), "mp4", with_audio=False)
    data = ["--data-dir", str(tmp_path / "data"), "--speech-backend", "none"]
    _, _, out = _inspect(capsys, str(video), "--model", str(folder), *data)
    own = int(re.search(r"the model's own count: (\d+) tokens", out).group(1))  # type: ignore[union-attr]
    _, _, out = _inspect(capsys, str(video), "--model", str(folder), "--end", "2", *data)
    half = int(re.search(r"the model's own count: (\d+) tokens", out).group(1))  # type: ignore[union-attr]
    assert own > half > 0  # 4 frames are two temporal patches, 2 frames one
    _, _, out = _inspect(capsys, str(video), "--model", "Qwen/Not-Downloaded-VL-2B", *data)
    assert "the model's own count: unknown" in out
