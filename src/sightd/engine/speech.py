"""Speech → timestamped text, so a video's audio reaches a model that only sees frames.

Two backends behind one `Transcriber` protocol, both fed 16 kHz mono samples
(`sightd.media.audio.iter_audio` blocks, or one array) and both bounded in memory on an hour of
audio:

- `faster-whisper` (extra `whisper`): accurate, many languages; the default where installed. Its
  model comes from the Hugging Face hub on first use (never in tests). Audio goes in windows of
  a few minutes, each cut at its quietest moment so words are not split.
- `pocketsphinx` (extra `speech`): small, offline, English; its model ships inside the wheel.
  A voice-activity endpointer cuts the stream into utterances, which are decoded one at a time
  with word timings (100 frames a second).

Times are seconds on the media file's clock (the blocks' `start_s`, plus `offset_s`). No torch
here; heavy imports happen inside `load_transcriber`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sightd.errors import MissingExtra
from sightd.media.sampling import timestamp_mmss
from sightd.prompt import TranscriptSegment

SAMPLE_RATE_HZ = 16_000
AudioInput = np.ndarray | Iterable[tuple[float, np.ndarray]]
"""One array of 16 kHz mono samples (float in [-1, 1] or int16), or (start_s, samples) blocks
in time order, as `sightd.media.audio.iter_audio` yields them."""

BACKENDS = ("faster-whisper", "pocketsphinx")


@runtime_checkable
class Transcriber(Protocol):
    """A loaded speech recogniser. `transcribe` blocks; calls on one instance are serialised."""

    name: str

    def transcribe(self, audio: AudioInput, offset_s: float = 0.0) -> list[TranscriptSegment]:
        """Segments in time order; `offset_s` is added to every time (e.g. a clip's start when
        `audio` is a bare array)."""
        ...


def load_transcriber(
    name: str = "auto", *, model: str | None = None, **options: Any
) -> Transcriber:
    """A transcriber by backend name: `faster-whisper` (optionally `faster-whisper:<model>`),
    `pocketsphinx`, or `auto` (faster-whisper if installed, else pocketsphinx).

    `options` go to the backend (`FasterWhisperTranscriber`: device, compute_type,
    cpu_threads, download_root, local_files_only, language). An unknown name is a ValueError;
    a backend whose package is missing raises `MissingExtra` naming the extra to install.
    """
    backend, _, suffix = name.partition(":")
    model = model or suffix or None
    if backend == "auto":
        try:
            return FasterWhisperTranscriber(model or "small", **options)
        except MissingExtra:
            try:
                return PocketSphinxTranscriber()
            except MissingExtra:
                raise MissingExtra("faster-whisper", "whisper") from None
    if backend == "faster-whisper":
        return FasterWhisperTranscriber(model or "small", **options)
    if backend == "pocketsphinx":
        return PocketSphinxTranscriber(**options)
    raise ValueError(f"unknown speech backend {name!r}; expected one of {(*BACKENDS, 'auto')}")


def format_transcript(segments: Iterable[TranscriptSegment]) -> str:
    """Segments as prompt text, one a line: `[MM:SS] text` (Gemini's timestamp format)."""
    return "\n".join(f"[{timestamp_mmss(s.start_s)}] {s.text}" for s in segments)


def _blocks(audio: AudioInput, offset_s: float) -> Iterator[tuple[float, np.ndarray]]:
    if isinstance(audio, np.ndarray):
        yield offset_s, audio
        return
    for start_s, samples in audio:
        yield start_s + offset_s, samples


def _to_int16(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.int16:
        return np.asarray(samples.reshape(-1))
    scaled: np.ndarray = np.clip(samples.reshape(-1).astype(np.float32) * 32768.0, -32768, 32767)
    return scaled.astype(np.int16)


class PocketSphinxTranscriber:
    """PocketSphinx 5 with its bundled US-English model; utterances found by its endpointer.

    Segments are phrases: words of one utterance, split at pauses over `pause_s` and kept under
    `max_segment_s`. An utterance that never pauses is cut every `max_utterance_s` to bound the
    decoder's lattice.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        pause_s: float = 0.6,
        max_segment_s: float = 10.0,
        max_utterance_s: float = 30.0,
    ) -> None:
        try:
            from pocketsphinx import Config, Decoder, Endpointer
        except ImportError as exc:
            raise MissingExtra("pocketsphinx", "speech") from exc
        self._endpointer_cls = Endpointer
        self._decoder = Decoder(Config(samprate=SAMPLE_RATE_HZ, loglevel="FATAL"))
        self._frame_rate = float(self._decoder.config["frate"])
        self.pause_s, self.max_segment_s = pause_s, max_segment_s
        self.max_utterance_s = max_utterance_s
        self._lock = threading.Lock()

    def transcribe(self, audio: AudioInput, offset_s: float = 0.0) -> list[TranscriptSegment]:
        with self._lock:
            words = list(self._words(_blocks(audio, offset_s)))
        return _group(words, self.pause_s, self.max_segment_s)

    def _words(self, blocks: Iterable[tuple[float, np.ndarray]]) -> Iterator[_Word]:
        endpointer = self._endpointer_cls(sample_rate=SAMPLE_RATE_HZ)
        frame_len = endpointer.frame_bytes // 2
        decoder = self._decoder
        origin_s: float | None = None  # file time of the first sample given to the endpointer
        utt_start_s: float | None = None
        utt_samples = 0
        carry = np.zeros(0, dtype=np.int16)
        for start_s, samples in blocks:
            if origin_s is None:
                origin_s = start_s
            data = np.concatenate([carry, _to_int16(samples)])
            whole = len(data) // frame_len * frame_len
            for i in range(0, whole, frame_len):
                was_in_speech = endpointer.in_speech
                speech = endpointer.process(data[i : i + frame_len].tobytes())
                if speech is None:
                    continue
                if not was_in_speech:
                    decoder.start_utt()
                    utt_start_s, utt_samples = origin_s + endpointer.speech_start, 0
                elif utt_samples >= self.max_utterance_s * SAMPLE_RATE_HZ:
                    yield from self._end_utterance(utt_start_s)
                    decoder.start_utt()
                    utt_start_s = (utt_start_s or 0.0) + utt_samples / SAMPLE_RATE_HZ
                    utt_samples = 0
                decoder.process_raw(speech, False, False)
                utt_samples += len(speech) // 2
                if not endpointer.in_speech:
                    yield from self._end_utterance(utt_start_s)
                    utt_start_s = None
            carry = data[whole:]
        if utt_start_s is not None:
            if len(carry):  # end_stream indexes into its buffer: an empty one raises IndexError
                rest = endpointer.end_stream(carry.tobytes())
                if rest:
                    decoder.process_raw(rest, False, False)
            yield from self._end_utterance(utt_start_s)

    def _end_utterance(self, utt_start_s: float | None) -> Iterator[_Word]:
        self._decoder.end_utt()
        if utt_start_s is None:
            return
        for seg in self._decoder.seg():
            word = _clean_word(seg.word)
            if word:
                yield _Word(
                    utt_start_s + seg.start_frame / self._frame_rate,
                    utt_start_s + (seg.end_frame + 1) / self._frame_rate,
                    word,
                )


@dataclass(frozen=True)
class _Word:
    start_s: float
    end_s: float
    text: str


_ALTERNATE = re.compile(r"\(\d+\)$")  # "read(2)": the dictionary's second pronunciation


def _clean_word(word: str) -> str:
    """A recognised word, or "" for silence, sentence marks and noise fillers ([NOISE], +UH+)."""
    if word in ("<s>", "</s>", "<sil>") or word[:1] in "[+":
        return ""
    return _ALTERNATE.sub("", word)


def _group(words: list[_Word], pause_s: float, max_segment_s: float) -> list[TranscriptSegment]:
    """Words → phrases, split at pauses and at a maximum length."""
    out: list[TranscriptSegment] = []
    current: list[_Word] = []
    for word in words:
        if current and (
            word.start_s - current[-1].end_s > pause_s
            or word.end_s - current[0].start_s > max_segment_s
        ):
            out.append(_segment(current))
            current = []
        current.append(word)
    if current:
        out.append(_segment(current))
    return out


def _segment(words: list[_Word]) -> TranscriptSegment:
    return TranscriptSegment(words[0].start_s, words[-1].end_s, " ".join(w.text for w in words))


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2 Whisper) with its built-in VAD, fed windows of `window_s`."""

    name = "faster-whisper"

    def __init__(
        self,
        model: str = "small",
        *,
        device: str = "auto",
        compute_type: str = "default",
        cpu_threads: int = 0,
        download_root: str | None = None,
        local_files_only: bool = False,
        language: str | None = None,
        window_s: float = 300.0,
    ) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingExtra("faster-whisper", "whisper") from exc
        self._model = WhisperModel(
            model,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            download_root=download_root,
            local_files_only=local_files_only,
        )
        self.language, self.window_s = language, window_s
        self._lock = threading.Lock()

    def transcribe(self, audio: AudioInput, offset_s: float = 0.0) -> list[TranscriptSegment]:
        out: list[TranscriptSegment] = []
        with self._lock:
            for start_s, samples in quiet_cut_windows(_blocks(audio, offset_s), self.window_s):
                segments, _info = self._model.transcribe(
                    samples, language=self.language, vad_filter=True, beam_size=5
                )
                for seg in segments:  # a lazy generator: decoding happens here
                    text = str(seg.text).strip()
                    if text:
                        end_s = start_s + seg.end
                        out.append(TranscriptSegment(start_s + seg.start, end_s, text))
        return out


def quiet_cut_windows(
    blocks: Iterable[tuple[float, np.ndarray]], window_s: float, search_s: float = 5.0
) -> Iterator[tuple[float, np.ndarray]]:
    """Re-cut contiguous blocks into float32 windows of about `window_s`, each ending at the
    quietest 100 ms of its last `search_s` seconds, so a cut rarely falls inside a word."""
    window = round(window_s * SAMPLE_RATE_HZ)
    search = min(round(search_s * SAMPLE_RATE_HZ), window // 2)
    step = SAMPLE_RATE_HZ // 10
    parts: list[np.ndarray] = []
    buffered = 0
    start_s: float | None = None
    for block_start_s, samples in blocks:
        if start_s is None:
            start_s = block_start_s
        as_float = samples.reshape(-1).astype(np.float32)
        if samples.dtype == np.int16:
            as_float /= 32768.0
        parts.append(as_float)
        buffered += len(as_float)
        while buffered >= window:
            joined = np.concatenate(parts)
            tail = joined[window - search : window]
            n = len(tail) // step
            energy = (tail[: n * step].reshape(n, step) ** 2).mean(axis=1)
            cut = window - search + int(np.argmin(energy)) * step + step // 2
            yield start_s, joined[:cut]
            start_s += cut / SAMPLE_RATE_HZ
            parts, buffered = [joined[cut:]], len(joined) - cut
    if buffered and start_s is not None:
        yield start_s, np.concatenate(parts)
