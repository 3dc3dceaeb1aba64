"""Log probabilities and presence/frequency penalties against a live sightd serving the tiny
Qwen3-VL: `logprobsResult` is checked against the model's own scores from a separate forward
pass, and penalties through the log probabilities they change."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.genai import types

torch = pytest.importorskip("torch")

PROMPT = "Count: one one one one"
URL = "/v1beta/models/gemini-2.5-flash"


def _generate(server: Any, config: dict[str, Any], prompt: str = PROMPT) -> dict[str, Any]:
    body = {"contents": [{"parts": [{"text": prompt}]}], "generationConfig": config}
    r = httpx.post(f"{server.url}{URL}:generateContent", json=body, timeout=120)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _first_step_logprobs(engine_handle: Any, model_dir: Path, prompt: str) -> Any:
    """log_softmax of the model's next-token logits after the prompt, from a copy of the model
    loaded apart from the server's, on the input ids the server's processor builds."""
    from transformers import AutoModelForImageTextToText

    from sightd.engine.base import SamplingParams
    from sightd.prompt import Prompt, TextPart, Turn

    backend = engine_handle.require().model
    request = backend._prepare(Prompt((Turn("user", (TextPart(prompt),)),)), SamplingParams())
    ids = request.inputs["input_ids"]
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32)
    if backend.info.extras["dtype"] == "int8":  # the CPU default: the same quantized model
        from sightd.engine.transformers.quantize import quantize_text_model

        quantize_text_model(model)
    with torch.inference_mode():
        # Only the last position through the head, as generate does: int8 activations are
        # scaled per call, so the head's output depends on what else it was given.
        logits = model.eval()(
            input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=1
        ).logits
    return torch.log_softmax(logits[0, -1].float(), dim=-1)


def test_logprobs_are_the_models_own_scores(
    server: Any, engine_handle: Any, tiny_model_dir: Path
) -> None:
    out = _generate(
        server,
        {"temperature": 0, "maxOutputTokens": 4, "responseLogprobs": True, "logprobs": 5},
    )
    cand = out["candidates"][0]
    result = cand["logprobsResult"]
    chosen, top = result["chosenCandidates"], result["topCandidates"]
    assert 1 <= len(chosen) == len(top) <= 4
    for step, best in zip(chosen, top, strict=True):
        listed = best["candidates"]
        assert len(listed) == 5
        probs = [c["logProbability"] for c in listed]
        assert probs == sorted(probs, reverse=True)
        assert sum(math.exp(p) for p in probs) <= 1 + 1e-6
        assert step["tokenId"] == listed[0]["tokenId"]  # greedy: chosen = top candidate
        assert step["logProbability"] == pytest.approx(listed[0]["logProbability"])
    assert cand["avgLogprobs"] == pytest.approx(
        sum(c["logProbability"] for c in chosen) / len(chosen)
    )
    assert result["logProbabilitySum"] == pytest.approx(sum(c["logProbability"] for c in chosen))

    expected = _first_step_logprobs(engine_handle, tiny_model_dir, PROMPT)
    values, ids = torch.topk(expected, 5)
    first = top[0]["candidates"]
    assert [c["tokenId"] for c in first] == ids.tolist()
    # float32 sums differ with the thread count (the server runs 1 torch thread): a few 1e-3
    assert [c["logProbability"] for c in first] == pytest.approx(values.tolist(), abs=1e-2)
    tokenizer = engine_handle.require().model._tokenizer
    assert first[0]["token"] == tokenizer.decode([first[0]["tokenId"]])


def test_chosen_only_without_a_top_count(server: Any) -> None:
    cand = _generate(server, {"temperature": 0, "maxOutputTokens": 3, "responseLogprobs": True})[
        "candidates"
    ][0]
    assert "topCandidates" not in cand["logprobsResult"]
    assert len(cand["logprobsResult"]["chosenCandidates"]) >= 1
    assert "avgLogprobs" in cand


def test_no_logprobs_unless_asked(server: Any) -> None:
    cand = _generate(server, {"temperature": 0, "maxOutputTokens": 2})["candidates"][0]
    assert "logprobsResult" not in cand and "avgLogprobs" not in cand


def test_json_mode_greedy_chosen_is_the_top_candidate(server: Any) -> None:
    """The grammar masks logits; the scores reported are the masked ones, so the chosen token is
    still the best listed, and every listed token is one the grammar allowed (finite)."""
    config = {
        "temperature": 0,
        "maxOutputTokens": 12,
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
        "responseLogprobs": True,
        "logprobs": 3,
    }
    cand = _generate(server, config)["candidates"][0]
    if cand["finishReason"] == "STOP":
        json.loads(cand["content"]["parts"][0]["text"])
    result = cand["logprobsResult"]
    assert result["chosenCandidates"][0]["token"].startswith("{")
    for step, best in zip(result["chosenCandidates"], result["topCandidates"], strict=True):
        assert step["tokenId"] == best["candidates"][0]["tokenId"]
        assert all(math.isfinite(c["logProbability"]) for c in best["candidates"])


def test_streaming_chunks_carry_their_tokens_logprobs(server: Any) -> None:
    config = {"temperature": 0, "maxOutputTokens": 6, "responseLogprobs": True, "logprobs": 2}
    whole = _generate(server, config)["candidates"][0]
    body = {"contents": [{"parts": [{"text": PROMPT}]}], "generationConfig": config}
    events = []
    with httpx.stream(
        "POST", f"{server.url}{URL}:streamGenerateContent?alt=sse", json=body, timeout=120
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:])["candidates"][0])
    chosen = [
        c for e in events if "logprobsResult" in e for c in e["logprobsResult"]["chosenCandidates"]
    ]
    assert chosen == whole["logprobsResult"]["chosenCandidates"]
    assert "avgLogprobs" in events[-1] and "avgLogprobs" not in events[0]
    assert events[-1]["avgLogprobs"] == pytest.approx(whole["avgLogprobs"])


def test_sdk_reads_logprobs(client: Any) -> None:
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=PROMPT,
        config=types.GenerateContentConfig(
            temperature=0, max_output_tokens=3, response_logprobs=True, logprobs=2
        ),
    )
    cand = response.candidates[0]
    assert cand.avg_logprobs is not None and cand.avg_logprobs <= 0
    steps = cand.logprobs_result.top_candidates
    assert len(steps) == len(cand.logprobs_result.chosen_candidates)
    assert len(steps[0].candidates) == 2 and isinstance(steps[0].candidates[0].token_id, int)


def test_frequency_penalty_lowers_a_repeated_tokens_probability(server: Any) -> None:
    """Greedy, so the same tokens come out until the penalty changes the choice: at the first
    step where a token repeats, its probability is lower with the penalty."""
    base = {"temperature": 0, "maxOutputTokens": 12, "responseLogprobs": True, "logprobs": 20}
    plain = _generate(server, base)["candidates"][0]["logprobsResult"]
    ids = [c["tokenId"] for c in plain["chosenCandidates"]]
    repeat = next((i for i in range(1, len(ids)) if ids[i] in ids[:i]), None)
    if repeat is None:
        pytest.skip("the tiny model repeated no token greedily")
    token = ids[repeat]
    penalised = _generate(server, {**base, "frequencyPenalty": 1.5})["candidates"][0]
    steps = penalised["logprobsResult"]
    assert [c["tokenId"] for c in steps["chosenCandidates"][:repeat]] == ids[:repeat]
    before = plain["chosenCandidates"][repeat]["logProbability"]
    listed = {
        c["tokenId"]: c["logProbability"] for c in steps["topCandidates"][repeat]["candidates"]
    }
    after = listed.get(token, -math.inf)  # fell out of the top 20: lower still
    assert after < before


def test_presence_penalty_changes_sampling(server: Any) -> None:
    base = {"temperature": 0, "maxOutputTokens": 12, "responseLogprobs": True}
    plain = _generate(server, base)["candidates"][0]["logprobsResult"]["chosenCandidates"]
    penalised = _generate(server, {**base, "presencePenalty": 1.9})["candidates"][0]
    chosen = penalised["logprobsResult"]["chosenCandidates"]
    ids = [c["tokenId"] for c in plain]
    if len(set(ids)) == len(ids):
        pytest.skip("the tiny model repeated no token greedily")
    assert [c["tokenId"] for c in chosen] != ids or any(
        a["logProbability"] != pytest.approx(b["logProbability"])
        for a, b in zip(plain, chosen, strict=False)
    )
