"""The playground's "What the model sees" panel in headless Chromium: after a video is uploaded
the strip shows the frames the server sampled at their MM:SS (the `sightd inspect` code path,
`POST /web/inspect`), and a MM:SS in an answer is a button that seeks the picked video."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.video_factory import flite_available, make_speech_video, make_video
from tests.web.playground import open_page, send, sse, text_event, upload, wait_until

pytestmark = pytest.mark.slow

XSS = '<img src=x onerror="window.__pwned=1">'


def _strip(page: Any) -> list[dict[str, Any]]:
    wait_until(page, "document.getElementById('inspect-panel').dataset.ready === '1'")
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('#strip .frame')].map((li) => ({
              seconds: Number(li.dataset.seconds),
              label: li.querySelector('button.seek').textContent,
              natural: [li.querySelector('img').naturalWidth,
                        li.querySelector('img').naturalHeight],
            }))"""
        )
    )


def test_strip_shows_frames_and_answer_times_seek_the_video(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    server = make_server()
    open_page(page, server.url + "/")
    video = make_video(tmp_path / "clip.webm", seconds=4.0, fps=10, size=(160, 120), fmt="webm-vp8")
    upload(page, f"{XSS}.webm", video.read_bytes(), "video/webm")
    frames = _strip(page)
    assert [f["label"] for f in frames] == ["00:00", "00:01", "00:02", "00:03"]
    assert [round(f["seconds"]) for f in frames] == [0, 1, 2, 3]
    wait_until(
        page, "[...document.images].filter((i) => i.closest('#strip')).every((i) => i.complete)"
    )
    assert all(f["natural"][0] > 0 for f in _strip(page))
    assert page.inner_text("#inspect-status").startswith(f"{XSS}.webm: 4 frames")
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(tmp_path / "strip.png"))

    # The clip settings are the request's: re-inspect from the Files panel with fps 2, 1 s to 3 s.
    page.click("#settings summary")
    page.fill("#fps", "2")
    page.fill("#clip-start", "1")
    page.fill("#clip-end", "3")
    page.evaluate("delete document.getElementById('inspect-panel').dataset.ready")
    page.locator("#files tbody tr button.inspect").first.click()
    frames = _strip(page)
    assert [f["seconds"] for f in frames] == pytest.approx([1.0, 1.5, 2.0, 2.5], abs=0.06)
    assert [f["label"] for f in frames] == ["00:01", "00:01", "00:02", "00:02"]

    # A played-back answer (the tiny model writes gibberish): its MM:SS become seek buttons.
    wait_until(page, "document.getElementById('inspect-video').readyState >= 1")
    answer = f"The square turns at 00:02, again at 0:03 {XSS} (not 12:34:56 or 1:2)."
    page.route(
        re.compile(r".*:streamGenerateContent.*"),
        lambda route: route.fulfill(
            status=200,
            headers={"content-type": "text/event-stream"},
            body=sse(text_event(answer, "STOP")),
        ),
    )
    assert send(page)[0] == answer
    assert page.inner_text("#answer") == answer
    links = page.locator("#answer button.seek")
    assert links.all_inner_texts() == ["00:02", "0:03"]
    links.nth(1).click()
    wait_until(page, "Math.abs(document.getElementById('inspect-video').currentTime - 3) < 0.01")
    links.nth(0).click()
    wait_until(page, "Math.abs(document.getElementById('inspect-video').currentTime - 2) < 0.01")
    # The strip's own times seek too.
    page.locator("#strip button.seek").first.click()
    wait_until(page, "Math.abs(document.getElementById('inspect-video').currentTime - 1) < 0.01")
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(tmp_path / "seek.png"), full_page=True)


def test_transcript_lines_at_their_times_are_text(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    """The transcript as the route returns it (played back here: the tiny server has no speech
    model) is listed at its MM:SS as text, and its times seek the video."""
    server = make_server()
    open_page(page, server.url + "/")
    canned = {
        "name": XSS,
        "header": XSS,
        "videoInput": "frames",
        "frames": [{"timeSeconds": 0.0, "mmss": "00:00", "width": 8, "height": 8, "image": XSS}],
        "transcript": [
            {"startSeconds": 1.4, "endSeconds": 2.0, "mmss": "00:01", "text": XSS},
            {"startSeconds": 2.5, "endSeconds": 3.0, "mmss": "00:02", "text": "the quick fox"},
        ],
        "totalTokens": 5,
        "tokensByModality": {"VIDEO": 5},
    }
    page.route(
        re.compile(r".*/web/inspect$"),
        lambda route: route.fulfill(
            status=200, headers={"content-type": "application/json"}, body=json.dumps(canned)
        ),
    )
    video = make_video(tmp_path / "clip.webm", seconds=4.0, fps=10, fmt="webm-vp8")
    upload(page, "clip.webm", video.read_bytes(), "video/webm")
    _strip(page)
    lines = page.locator("#transcript li.speech")
    assert lines.all_inner_texts() == [f"00:01 {XSS}", "00:02 the quick fox"]
    assert page.inner_text("#inspect-header") == XSS
    assert page.locator("#inspect-panel img").first.get_attribute("src") is None  # not a JPEG
    wait_until(page, "document.getElementById('inspect-video').readyState >= 1")
    lines.nth(1).locator("button.seek").click()
    wait_until(page, "Math.abs(document.getElementById('inspect-video').currentTime - 2.5) < 0.01")
    assert page.evaluate("window.__pwned") is None


SENTENCE = "the quick brown fox jumps over the lazy dog"


@pytest.mark.skipif(not flite_available(), reason="flite (Debian package) synthesises the speech")
def test_real_speech_shows_at_its_time_and_seeks(
    make_server: Callable[..., Any], page: Any, tmp_path: Path
) -> None:
    """A video whose audio says a sentence from 3 s on (flite's voice, recognised by the server's
    speech backend): its transcript line is listed at 00:02-00:04 with some of the words, and
    clicking that time seeks the video element there."""
    server = make_server()
    open_page(page, server.url + "/")
    video = make_speech_video(tmp_path / "speech.mp4", SENTENCE, at_s=3.0)
    upload(page, "speech.mp4", video.read_bytes(), "video/mp4")
    _strip(page)
    lines = page.evaluate(
        """() => [...document.querySelectorAll('#transcript li.speech')].map((li) => ({
          seconds: Number(li.dataset.seconds),
          label: li.querySelector('button.seek').textContent,
          text: li.textContent,
        }))"""
    )
    assert lines, page.inner_text("#transcript")
    first = lines[0]
    assert 2.0 <= first["seconds"] < 5.0, lines
    minutes, seconds = divmod(int(first["seconds"]), 60)
    assert first["label"] == f"{minutes:02d}:{seconds:02d}"
    assert {"quick", "fox", "lazy", "dog"} & set(first["text"].split()), lines
    wait_until(page, "document.getElementById('inspect-video').readyState >= 1")
    page.locator("#transcript li.speech button.seek").first.click()
    wait_until(
        page,
        f"Math.abs(document.getElementById('inspect-video').currentTime - {first['seconds']})"
        " < 0.01",
    )
    page.screenshot(path=str(tmp_path / "speech.png"), full_page=True)
