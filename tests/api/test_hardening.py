"""Bad input of every shape the fuzzer found is a 400 naming the field, never a 500 (issue:
Hardening); tenants cannot touch each other's interactions; /healthz shows no local paths."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
COUNT = "/v1beta/models/gemini-2.5-flash:countTokens"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
INTERACTIONS = "/v1beta/interactions"


def _raw(server: Any, path: str, raw: str | bytes, key: str = "k") -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}",
        content=raw,
        headers={"content-type": "application/json", "x-goog-api-key": key},
        timeout=60,
    )


def _assert_400(r: httpx.Response, field: str | None) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT" and err["message"]
    (bad,) = [d for d in err["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    if field is not None:
        assert bad["fieldViolations"][0]["field"] == field, err
    return err


def _contents(extra: str) -> str:
    return '{"contents": [{"parts": [{"text": "x"}]}], ' + extra + "}"


GENERATE_CASES = [
    ('"generationConfig": {"topK": NaN}', "generation_config.top_k"),
    ('"generationConfig": {"topK": Infinity}', "generation_config.top_k"),
    ('"generationConfig": {"topK": -5}', "generation_config.top_k"),
    ('"generationConfig": {"topK": 1e400}', "generation_config.top_k"),
    ('"generationConfig": {"seed": 123456789012345678901234567890}', "generation_config.seed"),
    ('"generationConfig": {"temperature": NaN}', "generation_config.temperature"),
    ('"generationConfig": {"topP": -Infinity}', "generation_config.top_p"),
    ('"generationConfig": {"maxOutputTokens": 1e30}', "generation_config.max_output_tokens"),
    ('"generationConfig": {"candidateCount": true}', "generation_config.candidate_count"),
    ('"generationConfig": {"stopSequences": [1]}', "generation_config.stop_sequences[0]"),
    ('"generationConfig": {"stopSequences": ["a","b","c","d","e","f"]}', None),
    ('"generationConfig": [1]', "generation_config"),
]


@pytest.mark.parametrize(("extra", "field"), GENERATE_CASES)
@pytest.mark.parametrize("path", [GEN, COUNT, STREAM], ids=["generate", "count", "stream"])
def test_generation_config_type_and_range_errors(
    server: Any, path: str, extra: str, field: str | None
) -> None:
    raw = _contents(extra)
    if path == COUNT:  # countTokens reads generationConfig only inside generateContentRequest
        raw = '{"generateContentRequest": ' + raw + "}"
        field = field and f"generate_content_request.{field}"
    _assert_400(_raw(server, path, raw), field)


def test_video_offset_object_with_garbage_seconds(server: Any) -> None:
    part = {
        "fileData": {"fileUri": "files/abc123", "mimeType": "video/mp4"},
        "videoMetadata": {"startOffset": {"seconds": "x"}},
    }
    body = {"contents": [{"parts": [part, {"text": "x"}]}]}
    r = _raw(server, COUNT, json.dumps(body))
    _assert_400(r, "contents[0].parts[0].video_metadata.start_offset")


@pytest.mark.parametrize("path", [GEN, COUNT, INTERACTIONS])
def test_deep_nesting_is_a_400_before_parsing(server: Any, path: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    err = _assert_400(_raw(server, path, '{"contents": ' + deep + "}"), None)
    assert "nest" in err["message"].lower()
    # 40 levels of a legitimate schema still parse
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(15):
        schema = {"type": "object", "properties": {"a": schema}}
    ok = _raw(
        server,
        COUNT,
        json.dumps({"contents": [{"parts": [{"text": "x"}]}], "extra": {"s": schema}}),
    )
    assert ok.status_code == 200, ok.text


def test_deep_nesting_in_upload_metadata(server: Any) -> None:
    r = httpx.post(
        f"{server.url}/upload/v1beta/files",
        content="[" * 5_000 + "]" * 5_000,  # under the metadata size cap
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "1",
            "X-Goog-Upload-Header-Content-Type": "image/png",
            "content-type": "application/json",
        },
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


_BLOCK = '{"type": "image", "data": "AAAA", "mime_type": "image/png"}'
INTERACTION_CASES = [
    ('"input": "x", "generation_config": [1]', "generation_config"),
    ('"input": [{"type": []}]', "input[0].type"),
    ('"input": [{"type": {}}, {"type": "text", "text": "x"}]', "input[0].type"),
    ('"input": [{"type": "image", "data": 5}]', "input[0].data"),
    ('"input": [{"type": "image", "data": "AAAA", "mime_type": 5}]', "input[0].mime_type"),
    ('"input": [{"type": "text", "text": 5}]', "input[0].text"),
    ('"input": [{"type": "user_input", "content": [{"type": "video", "uri": 7}]}]', None),
    ('"input": "x", "generation_config": {"top_p": "x"}', "generation_config.top_p"),
    ('"input": "x", "generation_config": {"top_p": 1.5}', "generation_config.top_p"),
    ('"input": "x", "generation_config": {"stop_sequences": [1]}', None),
    ('"input": "x", "generation_config": {"top_k": NaN}', "generation_config.top_k"),
    ('"input": "x", "generation_config": {"seed": 1e30}', "generation_config.seed"),
    ('"input": "x", "generation_config": {"max_output_tokens": -1}', None),
    ('"input": "x", "system_instruction": 5', "system_instruction"),
    ('"input": "x", "previous_interaction_id": []', "previous_interaction_id"),
    ('"input": "x", "response_format": 5', "response_format"),
    ('"input": "x", "model": 5', "model"),
    ('"input": 5', "input"),
    ('"input": [[1]]', "input[0][0]"),
    ('"input": [true]', "input[0]"),
    ('"input": [' + _BLOCK + ', {"type": "text", "text": "x"}], "stream": {}', "stream"),
]


@pytest.mark.parametrize(("extra", "field"), INTERACTION_CASES)
def test_interactions_type_errors(server: Any, extra: str, field: str | None) -> None:
    raw = '{"model": "gemini-2.5-flash", ' + extra + "}"
    if '"model": 5' in extra:
        raw = "{" + extra + "}"
    _assert_400(_raw(server, INTERACTIONS, raw), field)


@pytest.mark.parametrize(
    "size", ["1e400", "NaN", "inf", "-inf", "999999999999", "99999999999999999999999", "x"]
)
def test_page_size_never_500(server: Any, size: str) -> None:
    r = httpx.get(f"{server.url}/v1beta/files", params={"pageSize": size})
    if size in ("999999999999", "99999999999999999999999"):
        assert r.status_code == 200, r.text  # clamped to the maximum page
    else:
        _assert_400(r, "pageSize")


def _background(server: Any, key: str) -> str:
    body = {
        "model": "gemini-2.5-flash",
        "input": "Tell me a long story.",
        "background": True,
        "generation_config": {"max_output_tokens": 2},
    }
    r = httpx.post(
        f"{server.url}{INTERACTIONS}", json=body, headers={"x-goog-api-key": key}, timeout=60
    )
    assert r.status_code == 200, r.text
    iid: str = r.json()["id"]
    return iid


def test_other_tenant_cannot_delete_or_cancel(make_server: Any) -> None:
    srv = make_server(api_keys="alpha,beta")
    iid = _background(srv, "alpha")
    url = f"{srv.url}{INTERACTIONS}/{iid}"
    assert httpx.delete(url, headers={"x-goog-api-key": "beta"}).status_code == 404
    assert httpx.post(f"{url}/cancel", headers={"x-goog-api-key": "beta"}).status_code == 404
    assert httpx.get(url, headers={"x-goog-api-key": "beta"}).status_code == 404
    mine = httpx.get(url, headers={"x-goog-api-key": "alpha"})
    assert mine.status_code == 200 and mine.json()["status"] in (
        "in_progress",
        "completed",
        "incomplete",
    )
    assert httpx.delete(url, headers={"x-goog-api-key": "alpha"}).status_code == 200
    assert httpx.get(url, headers={"x-goog-api-key": "alpha"}).status_code == 404


def test_healthz_shows_no_local_path(server: Any) -> None:
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["model"] == "ready"
    text = json.dumps(body)
    assert str(server.settings.model) not in text and str(server.settings.data_dir) not in text
    assert "/" not in text
