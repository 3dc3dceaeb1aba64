"""Video through the official SDK against a live sightd: uploads and inline bytes, every listed
container, fps / clipping / media resolution visible in the token counts, the transcript placed
at its MM:SS in what the model sees, and broken videos failing cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from sightd.engine.render import interleave_video
from sightd.prompt import ImagePart, TextPart
from tests.video_factory import FORMATS, flite_available, make_speech_video, make_video

SHORT = types.GenerateContentConfig(max_output_tokens=3)


def _details(response: Any) -> dict[str, int]:
    return {d.modality.name: d.token_count for d in response.usage_metadata.prompt_tokens_details}


@pytest.fixture
def mp4(tmp_path: Path) -> Path:
    return make_video(tmp_path / "sample.mp4", 4, 10, (160, 120), "mp4", with_audio=True)


def test_upload_then_generate_counts_frames_and_audio(client: Any, mp4: Path) -> None:
    myfile = client.files.upload(file=str(mp4))
    assert myfile.state.name == "ACTIVE"
    meta = myfile.video_metadata
    assert meta["videoDuration"] == "4s" and meta["videoCodec"] == "h264"
    assert (meta["width"], meta["height"], meta["hasAudio"]) == (160, 120, True)
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=[myfile, "Summarize this video."], config=SHORT
    )
    assert response.text is not None
    assert _details(response) == {
        "TEXT": _details(response)["TEXT"],
        "VIDEO": 4 * 258,
        "AUDIO": 4 * 32,
    }
    counted = client.models.count_tokens(
        model="gemini-2.5-flash", contents=[myfile, "Summarize this video."]
    )
    assert counted.total_tokens == response.usage_metadata.prompt_token_count


def test_fps_clip_and_resolution_change_the_count(client: Any, mp4: Path) -> None:
    data = mp4.read_bytes()

    def video_tokens(meta: types.VideoMetadata | None, resolution: Any = None) -> int:
        part = types.Part(
            inline_data=types.Blob(data=data, mime_type="video/mp4"), video_metadata=meta
        )
        config = types.GenerateContentConfig(max_output_tokens=2, media_resolution=resolution)
        response = client.models.generate_content(
            model="models/gemini-2.5-flash",
            contents=types.Content(parts=[part, types.Part(text="Describe.")]),
            config=config,
        )
        return _details(response)["VIDEO"]

    assert video_tokens(None) == 4 * 258
    assert video_tokens(types.VideoMetadata(fps=5)) == 20 * 258
    assert video_tokens(types.VideoMetadata(fps=0.5)) == 2 * 258
    assert video_tokens(types.VideoMetadata(start_offset="1s", end_offset="3s")) == 2 * 258
    assert video_tokens(None, types.MediaResolution.MEDIA_RESOLUTION_LOW) == 4 * 66


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_listed_container(client: Any, tmp_path: Path, fmt: str) -> None:
    spec = FORMATS[fmt]
    path = make_video(
        tmp_path / f"v{spec.suffix}",
        2,
        spec.fps or 10,
        spec.size or (160, 120),
        fmt,
        with_audio=False,
    )
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[types.Part.from_bytes(data=path.read_bytes(), mime_type=spec.mime), "What?"],
        config=SHORT,
    )
    assert _details(response)["VIDEO"] == 2 * 258


def test_broken_video_fails_cleanly(client: Any, server: Any, tmp_path: Path, mp4: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    myfile = client.files.upload(file=str(broken))
    state = client.files.get(name=myfile.name)
    assert state.state.name == "FAILED" and state.error.message
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents=[myfile, "x"])
    assert info.value.code == 400 and info.value.status == "FAILED_PRECONDITION"
    half = tmp_path / "half.mp4"
    half.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    cut = client.files.get(name=client.files.upload(file=str(half)).name)
    assert cut.state.name == "FAILED" and cut.error.message
    truncated = mp4.read_bytes()[:600]
    with pytest.raises(genai_errors.ClientError):
        client.models.generate_content(
            model="gemini-2.5-flash",
            contents=[types.Part.from_bytes(data=truncated, mime_type="video/mp4"), "x"],
        )
    assert httpx.get(f"{server.url}/v1beta/models").status_code == 200


def test_too_many_videos(client: Any, mp4: Path) -> None:
    part = types.Part.from_bytes(data=mp4.read_bytes(), mime_type="video/mp4")
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.count_tokens(model="gemini-2.5-flash", contents=[part] * 11 + ["x"])
    assert info.value.code == 400 and "limit is 10" in info.value.message


def test_interactions_video_by_uri_and_inline(client: Any, mp4: Path) -> None:
    import base64

    myfile = client.files.upload(file=str(mp4))
    by_uri = client.interactions.create(
        model="gemini-3-flash-preview",
        input=[
            {"type": "video", "uri": myfile.uri, "mime_type": myfile.mime_type},
            {"type": "text", "text": "Summarize this video."},
        ],
        generation_config={"max_output_tokens": 3},
    )
    assert isinstance(by_uri.steps[-1].content[0].text, str)
    modalities = {m.modality: m.tokens for m in by_uri.usage.input_tokens_by_modality}
    assert modalities["video"] == 4 * 258
    inline = client.interactions.create(
        model="gemini-3-flash-preview",
        input=[
            {"type": "text", "text": "Please summarize the video in 3 sentences."},
            {
                "type": "video",
                "data": base64.b64encode(mp4.read_bytes()).decode("utf-8"),
                "mime_type": "video/mp4",
            },
        ],
        generation_config={"max_output_tokens": 3},
    )
    assert inline.status in ("completed", "incomplete")  # cut by max_output_tokens


@pytest.mark.skipif(not flite_available(), reason="flite (Debian package) synthesises the speech")
def test_model_sees_the_transcript_at_its_time(
    client: Any, engine_handle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = make_speech_video(
        tmp_path / "speech.mp4", "the quick brown fox jumps over the lazy dog", at_s=3.0
    )
    backend = engine_handle.require()
    seen: list[Any] = []
    original = backend.generate

    async def recording(prompt: Any, params: Any) -> Any:
        seen.append(prompt)
        return await original(prompt, params)

    monkeypatch.setattr(backend, "generate", recording)
    myfile = client.files.upload(file=str(video))
    client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[myfile, "Transcribe the audio from this video, giving timestamps."],
        config=SHORT,
    )
    (video_in,) = seen[-1].videos()
    n = int(video_duration(video))
    assert [round(f.time_s, 3) for f in video_in.frames] == [float(t) for t in range(n)]
    speech = video_in.transcript
    assert speech and 2.0 <= speech[0].start_s < 5.0
    assert {"quick", "fox", "lazy", "dog"} & set(speech[0].text.split())
    # A frames-only model reads each frame after its MM:SS and the speech at its time.
    flat = interleave_video(video_in)
    texts = [p.text for p in flat if isinstance(p, TextPart)]
    assert any(
        t.startswith(("[00:02] (audio)", "[00:03] (audio)", "[00:04] (audio)")) for t in texts
    )
    assert sum(isinstance(p, ImagePart) for p in flat) == n
    assert "00:05" in texts


def video_duration(path: Path) -> float:
    from sightd.media.video import probe_video

    return probe_video(path).duration_s


def test_second_request_reuses_the_processed_file(client: Any, server: Any, tmp_path: Path) -> None:
    video = make_video(tmp_path / "reuse.mp4", 6, 10, (160, 120), "mp4", with_audio=True)
    myfile = client.files.upload(file=str(video))
    file_id = myfile.name.split("/")[1]
    cache = Path(server.settings.data_dir) / "media-cache" / file_id
    contents = [myfile, "What happens?"]
    first = client.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=SHORT
    )
    assert (cache / "probe.json").exists() and any(cache.glob("*/complete"))
    second = client.models.generate_content(
        model="gemini-2.5-flash", contents=contents, config=SHORT
    )
    assert _details(first) == _details(second)
    client.files.delete(name=myfile.name)
    assert not cache.exists()


def test_frames_reach_the_model_at_the_levels_frame_budget(
    client: Any, engine_handle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny Qwen3-VL takes the video natively; each frame is resized to the level's
    per-frame budget (sampled at 512 px / 256 px a side, then fit to the grid)."""
    video = make_video(tmp_path / "vga.mp4", 3, 10, (640, 480), "mp4", with_audio=False)
    backend = engine_handle.require()
    assert backend.capabilities.native_video
    policy = backend.info.sizing
    seen: list[Any] = []
    original = backend.generate

    async def recording(prompt: Any, params: Any) -> Any:
        seen.append(prompt)
        return await original(prompt, params)

    monkeypatch.setattr(backend, "generate", recording)
    part = types.Part(inline_data=types.Blob(data=video.read_bytes(), mime_type="video/mp4"))
    for resolution, sampled, expected in (
        (None, (512, 384), (416, 320)),
        (types.MediaResolution.MEDIA_RESOLUTION_LOW, (256, 192), (256, 192)),
    ):
        config = types.GenerateContentConfig(max_output_tokens=2, media_resolution=resolution)
        client.models.generate_content(
            model="gemini-2.5-flash", contents=[part, "What moves?"], config=config
        )
        (video_in,) = seen[-1].videos()
        level = "low" if resolution else None
        assert policy.frame_px(sampled, level) == expected
        assert {f.image.image.size for f in video_in.frames} == {expected}
        assert expected[0] * expected[1] <= policy.frame_budget(level)
