"""Speech to timestamped text: PocketSphinx on flite speech muxed into videos, the pure helpers,
and the faster-whisper adapter against a stand-in module (no model download in tests)."""

from __future__ import annotations

import itertools
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sightd.engine import speech
from sightd.engine.speech import (
    TranscriptSegment,
    format_transcript,
    load_transcriber,
    quiet_cut_windows,
)
from sightd.errors import MissingExtra
from tests.video_factory import flite_available, make_speech_video, synthesize

needs_flite = pytest.mark.skipif(
    not flite_available(), reason="flite is not installed (apt-get install flite)"
)


@pytest.fixture(scope="module")
def sphinx() -> speech.Transcriber:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed (extra `speech`)")
    return load_transcriber("pocketsphinx")


def words_of(segments: list[TranscriptSegment]) -> set[str]:
    return {w for s in segments for w in s.text.lower().split()}


@pytest.mark.parametrize(
    ("text", "at_s", "clip_start_s", "stamp"),
    [
        ("The quick brown fox jumps over the lazy dog", 7.0, None, "00:07"),
        ("Please call Stella and ask her to bring these things", 63.5, 58.0, "01:03"),
    ],
)
@needs_flite
def test_transcript_of_speech_in_a_video(
    tmp_path: Path,
    sphinx: speech.Transcriber,
    text: str,
    at_s: float,
    clip_start_s: float | None,
    stamp: str,
) -> None:
    pytest.importorskip("av")
    from sightd.media.audio import iter_audio

    path = make_speech_video(tmp_path / "speech.mp4", text, at_s=at_s)
    segments = sphinx.transcribe(iter_audio(path, start_s=clip_start_s, block_s=10))
    assert segments, "nothing recognised"
    assert segments[0].start_s == pytest.approx(at_s, abs=1.0)
    assert format_transcript(segments).startswith(f"[{stamp}] ")
    expected = {w for w in text.lower().split() if len(w) > 3}
    recognised = words_of(segments) & expected
    assert len(recognised) >= len(expected) / 2, (segments, expected)
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(segments))


@needs_flite
def test_two_utterances_keep_their_times(sphinx: speech.Transcriber) -> None:
    first, second = synthesize("hello world"), synthesize("the lazy dog")
    audio = np.zeros(16_000 * 12, dtype=np.int16)
    audio[16_000 * 2 : 16_000 * 2 + len(first)] = first
    audio[16_000 * 8 : 16_000 * 8 + len(second)] = second
    segments = sphinx.transcribe(audio, offset_s=100.0)  # one bare array, shifted
    assert len(segments) == 2
    assert [s.start_s for s in segments] == pytest.approx([102, 108], abs=1)
    assert "dog" in segments[1].text
    # float input in [-1, 1] and blocks give the same words
    as_float = audio.astype(np.float32) / 32768
    blocks = [(100.0 + i / 16_000, as_float[i : i + 7_000]) for i in range(0, len(audio), 7_000)]
    assert [s.text for s in sphinx.transcribe(blocks)] == [s.text for s in segments]


@pytest.mark.parametrize("seconds", [0.96, 1.44, 1.337])
def test_audio_that_ends_mid_utterance(sphinx: speech.Transcriber, seconds: float) -> None:
    """A tone running to the very end (no trailing silence, any length) must not crash the
    endpointer's end-of-stream flush (it raised IndexError on an empty remainder)."""
    t = np.arange(int(16_000 * seconds)) / 16_000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    segments = sphinx.transcribe(tone)
    assert all(0 <= s.start_s <= s.end_s <= seconds + 0.5 for s in segments)


def test_silence_gives_nothing(sphinx: speech.Transcriber) -> None:
    assert sphinx.transcribe(np.zeros(16_000 * 3, dtype=np.float32)) == []
    assert sphinx.transcribe([]) == []


@pytest.mark.parametrize(
    ("word", "clean"),
    [("<s>", ""), ("</s>", ""), ("<sil>", ""), ("[NOISE]", ""), ("+UH+", ""), ("read(2)", "read")],
)
def test_clean_word(word: str, clean: str) -> None:
    assert speech._clean_word(word) == clean


def test_group_splits_at_pauses_and_length() -> None:
    w = speech._Word
    words = [w(0.0, 0.4, "a"), w(0.5, 0.9, "b"), w(2.0, 2.3, "c"), w(2.3, 13.0, "d")]
    assert speech._group(words, pause_s=0.6, max_segment_s=10) == [
        TranscriptSegment(0.0, 0.9, "a b"),
        TranscriptSegment(2.0, 2.3, "c"),
        TranscriptSegment(2.3, 13.0, "d"),
    ]
    assert speech._group([], 0.6, 10) == []


def test_format_transcript() -> None:
    segments = [TranscriptSegment(5.2, 7, "hello"), TranscriptSegment(3725, 3726, "bye")]
    assert format_transcript(segments) == "[00:05] hello\n[62:05] bye"


def test_quiet_cut_windows_cut_in_silence() -> None:
    rng = np.random.default_rng(0)
    loud = (rng.standard_normal(16_000 * 25) * 0.3).astype(np.float32)
    loud[16_000 * 8 : 16_000 * 8 + 3_200] = 0  # 0.2 s of silence at 8.0–8.2 s
    blocks = [(50.0 + i / 16_000, loud[i : i + 16_000]) for i in range(0, len(loud), 16_000)]
    windows = list(quiet_cut_windows(blocks, window_s=10, search_s=3))
    assert windows[0][0] == 50.0
    first_cut_s = len(windows[0][1]) / 16_000
    assert 8.0 <= first_cut_s <= 8.2
    assert windows[1][0] == pytest.approx(50.0 + first_cut_s)
    assert sum(len(s) for _, s in windows) == len(loud)
    np.testing.assert_array_equal(np.concatenate([s for _, s in windows]), loud)


def test_unknown_backend_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown speech backend 'vosk'"):
        load_transcriber("vosk")


def test_missing_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import fails
    with pytest.raises(MissingExtra, match=r"sightd\[whisper\]"):
        load_transcriber("faster-whisper")
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(MissingExtra, match=r"sightd\[speech\]"):
        load_transcriber("pocketsphinx")
    with pytest.raises(MissingExtra, match="faster-whisper"):
        load_transcriber("auto")


def test_auto_falls_back_to_pocketsphinx(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pocketsphinx")
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    assert load_transcriber("auto").name == "pocketsphinx"


def test_faster_whisper_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model name and options reach WhisperModel; segment times get each window's start."""
    created: list[tuple[str, dict[str, Any]]] = []
    calls: list[int] = []

    class FakeModel:
        def __init__(self, name: str, **kwargs: Any) -> None:
            created.append((name, kwargs))

        def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[Any, Any]:
            assert audio.dtype == np.float32 and kwargs["vad_filter"]
            calls.append(len(audio))
            seg = types.SimpleNamespace(start=1.0, end=2.5, text=f" part {len(calls)} ")
            return iter([seg, types.SimpleNamespace(start=3.0, end=3.1, text=" ")]), None

    monkeypatch.setitem(
        sys.modules, "faster_whisper", types.SimpleNamespace(WhisperModel=FakeModel)
    )
    t = load_transcriber("faster-whisper:tiny.en", device="cpu", window_s=4.0)
    assert created == [
        (
            "tiny.en",
            {
                "device": "cpu",
                "compute_type": "default",
                "cpu_threads": 0,
                "download_root": None,
                "local_files_only": False,
            },
        )
    ]
    audio = np.zeros(16_000 * 10, dtype=np.float32)  # silence: cuts land at the search start
    segments = t.transcribe([(20.0, audio)])
    assert len(calls) > 1 and sum(calls) == len(audio) and max(calls) <= 4 * 16_000
    starts = [20.0 + sum(calls[:i]) / 16_000 for i in range(len(calls))]
    assert [s.text for s in segments] == [f"part {i + 1}" for i in range(len(calls))]
    assert [s.start_s for s in segments] == pytest.approx([s + 1.0 for s in starts])
    assert [s.end_s for s in segments] == pytest.approx([s + 2.5 for s in starts])
