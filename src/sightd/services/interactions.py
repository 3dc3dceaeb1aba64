"""The Interactions API: create (plain, streamed or in the background), get, delete, cancel.

An interaction is one generation over `input` (plus the history of `previous_interaction_id`)
run through the same GenerateService as generateContent, recorded as a timeline of steps: the
user_input steps, then one model_output step whose first block is text (the SDKs' seeds print
`steps[-1].content[0].text`). Its status is `completed`, or `incomplete` when the answer was
cut by `max_output_tokens` — plain, streamed and in the background alike.

An answer that calls functions ends with a function_call step per call (after its text, if
any) and has status `requires_action`; streamed, each call is a step.start, one
`arguments_delta` step.delta and a step.stop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sightd import errors
from sightd.engine.base import Completion
from sightd.services.generate import CandidateDelta, CandidateDone, GenerateService, StreamStart
from sightd.services.inputs import GenerateInput, InteractionInput
from sightd.services.interaction_steps import (
    call_events,
    output_steps,
    steps_from_json,
    steps_json,
    steps_to_turns,
)
from sightd.services.materialize import TokenUsage
from sightd.storage.interactions import InteractionRow, InteractionStore

log = logging.getLogger("sightd.interactions")

KEEP_INLINE_CHARS = 1_000_000


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _ts(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MODEL_INPUT_TOKENS_FIELD = "sightd_model_input_tokens"
"""An extension field of `usage`: the prompt's length in the served model's own tokens (chat
template, image and video tokens at the size the model saw them), beside `total_input_tokens`
(Gemini's rule, as `countTokens`). Absent when the engine did not say. The Python SDK's
Interactions types keep unknown fields (`usage.sightd_model_input_tokens`)."""


def usage_json(
    usage: TokenUsage, output_tokens: int, model_prompt_tokens: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "total_input_tokens": usage.total,
        "total_output_tokens": output_tokens,
        "total_thought_tokens": 0,
        "total_cached_tokens": 0,
        "total_tool_use_tokens": 0,
        "total_tokens": usage.total + output_tokens,
        "input_tokens_by_modality": [
            {"modality": m.lower(), "tokens": n} for m, n in usage.by_modality.items()
        ],
        "output_tokens_by_modality": [{"modality": "text", "tokens": output_tokens}],
    }
    if model_prompt_tokens is not None:
        body[MODEL_INPUT_TOKENS_FIELD] = model_prompt_tokens
    return body


class InteractionService:
    def __init__(
        self, store: InteractionStore, generate: GenerateService, sweep_interval_s: float = 600.0
    ) -> None:
        self.store = store
        self.generate = generate
        self.sweep_interval_s = sweep_interval_s
        self._background: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the expiry sweeper (stored interactions live `InteractionStore.ttl_s`)."""
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="sightd-interaction-sweeper")

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop the sweeper; give background runs `drain_s` to finish, then cancel the rest
        and mark them failed (the server stopped), so no client polls them forever."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        running = dict(self._background)
        if running and drain_s > 0:
            await asyncio.wait(running.values(), timeout=drain_s)
        stopped = [iid for iid, task in running.items() if not task.done()]
        for iid in stopped:
            running[iid].cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        if stopped:
            await asyncio.to_thread(self.store.fail_interrupted, stopped)
            log.warning("stopped %d background interaction(s), marked failed", len(stopped))

    async def sweep(self) -> int:
        """Delete expired stored interactions; returns how many."""
        return await asyncio.to_thread(self.store.drop_expired)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                swept = await self.sweep()
                if swept:
                    log.info("expiry sweep removed %d interactions", swept)
            except Exception:
                log.exception("interaction expiry sweep failed")
            await asyncio.sleep(self.sweep_interval_s)

    async def _prepare(
        self, owner: str, req: InteractionInput
    ) -> tuple[GenerateInput, list[dict[str, Any]]]:
        """The generation input, and the stored history (JSON steps) it continues."""
        self.generate.catalog.resolve(req.model)
        if req.store or req.background:  # refuse before generating, not after
            await asyncio.to_thread(self.store.check_quota, owner)
        history: list[dict[str, Any]] = []
        previous = req.previous_interaction_id
        if previous:
            row = await asyncio.to_thread(self.store.get, owner, previous)
            if row is None:
                raise errors.NotFound(
                    f"Interaction {previous} not found", field="previous_interaction_id"
                )
            for key in ("history", "input", "output"):
                stored = row.record.get(key)
                history += stored if isinstance(stored, list) else []
        inp = GenerateInput(
            model=req.model,
            turns=steps_to_turns(steps_from_json(history), req.steps),
            system=req.system,
            params=req.params,
            tools=req.tools,
            tool_choice=req.tool_choice,
        )
        return inp, history

    def _record(
        self, iid: str, req: InteractionInput, history: list[dict[str, Any]]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": iid,
            "model": req.model,
            "input": steps_json(req.steps, KEEP_INLINE_CHARS),
            "history": history,
            "output": [],
        }
        record.update(req.echo)
        return record

    async def create(self, owner: str, req: InteractionInput) -> dict[str, Any]:
        inp, history = await self._prepare(owner, req)
        iid = "v1_" + secrets.token_urlsafe(18)
        created = _now()
        record = self._record(iid, req, history)
        if req.background:
            row = InteractionRow(iid, owner, inp.model, "in_progress", created, created, record)
            await asyncio.to_thread(self.store.put, row)
            self._background[iid] = asyncio.create_task(self._run_background(row, inp))
            return self.view(row, include_input=False)
        result = await self.generate.generate(owner, inp)
        completion = result.candidates[0]
        record["output"] = output_steps(completion)
        record["usage"] = usage_json(
            result.usage, completion.output_tokens, completion.model_prompt_tokens
        )
        status = _status(completion)
        row = InteractionRow(iid, owner, inp.model, status, created, _now(), record)
        if req.store:
            await asyncio.to_thread(self.store.put, row)
        return self.view(row, include_input=False)

    async def _run_background(self, row: InteractionRow, inp: GenerateInput) -> None:
        record = dict(row.record)
        status = "completed"
        try:
            result = await self.generate.generate(row.owner, inp)
            record["output"] = output_steps(result.candidates[0])
            first = result.candidates[0]
            record["usage"] = usage_json(
                result.usage, first.output_tokens, first.model_prompt_tokens
            )
            status = _status(result.candidates[0])
        except asyncio.CancelledError:
            status = "cancelled"
        except errors.SightdError as exc:
            status = "failed"
            record["error"] = {"code": exc.http_code, "message": exc.message}
        finally:
            self._background.pop(row.id, None)
            done = InteractionRow(row.id, row.owner, row.model, status, row.created, _now(), record)
            await asyncio.to_thread(self.store.put, done)

    async def stream(self, owner: str, req: InteractionInput) -> AsyncIterator[dict[str, Any]]:
        """SSE event payloads: created, step.start, step.delta…, step.stop, completed."""
        inp, history = await self._prepare(owner, req)
        items = await self.generate.stream(owner, inp)
        iid = "v1_" + secrets.token_urlsafe(18)
        return self._stream(owner, req, inp, history, iid, items)

    async def _stream(
        self,
        owner: str,
        req: InteractionInput,
        inp: GenerateInput,
        history: list[dict[str, Any]],
        iid: str,
        items: AsyncIterator[Any],
    ) -> AsyncIterator[dict[str, Any]]:
        created = _now()
        record = self._record(iid, req, history)
        head = {"id": iid, "status": "in_progress", "model": inp.model, "created": _ts(created)}
        yield {"event_type": "interaction.created", "interaction": head}
        usage = TokenUsage()
        status = "completed"
        started = False  # the model_output step (index 0)
        async for item in items:
            if isinstance(item, StreamStart):
                usage = item.usage
            elif isinstance(item, CandidateDelta) and item.index == 0:
                if not started:  # the text step starts with its text: a call may come alone
                    started = True
                    yield _output_start()
                yield {
                    "event_type": "step.delta",
                    "index": 0,
                    "delta": {"type": "text", "text": item.delta.text},
                }
            elif isinstance(item, CandidateDone) and item.index == 0:
                record["output"] = output_steps(item.completion)
                record["usage"] = usage_json(
                    usage, item.completion.output_tokens, item.completion.model_prompt_tokens
                )
                status = _status(item.completion)
                if not started and not item.completion.calls:
                    started = True
                    yield _output_start()
                if started:
                    yield {"event_type": "step.stop", "index": 0}
                for event in call_events(item.completion.calls, int(started)):
                    yield event
                if item.completion.calls:
                    yield {
                        "event_type": "interaction.status_update",
                        "interaction_id": iid,
                        "status": status,
                    }
        row = InteractionRow(iid, owner, inp.model, status, created, _now(), record)
        if req.store:
            await asyncio.to_thread(self.store.put, row)
        yield {"event_type": "interaction.completed", "interaction": self.view(row, False)}

    async def get(self, owner: str, iid: str, include_input: bool = True) -> dict[str, Any]:
        row = await asyncio.to_thread(self.store.get, owner, iid)
        if row is None:
            raise errors.NotFound(f"Interaction {iid} not found")
        return self.view(row, include_input)

    async def delete(self, owner: str, iid: str) -> None:
        """Delete the caller's interaction, first stopping its background run; another
        caller's id is not found and its run is left alone."""
        if await asyncio.to_thread(self.store.get, owner, iid) is None:
            raise errors.NotFound(f"Interaction {iid} not found")
        task = self._background.get(iid)
        if task is not None:
            task.cancel()  # its last write lands before the row is deleted, not after
            await asyncio.gather(task, return_exceptions=True)
        if not await asyncio.to_thread(self.store.delete, owner, iid):
            raise errors.NotFound(f"Interaction {iid} not found")

    async def cancel(self, owner: str, iid: str) -> dict[str, Any]:
        row = await asyncio.to_thread(self.store.get, owner, iid)
        if row is None:
            raise errors.NotFound(f"Interaction {iid} not found")
        task = self._background.get(iid)
        if task is None:
            raise errors.FailedPrecondition(
                f"Interaction {iid} is {row.status}; only background interactions in progress "
                "can be cancelled."
            )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return await self.get(owner, iid, include_input=False)

    def view(self, row: InteractionRow, include_input: bool) -> dict[str, Any]:
        """The Interaction JSON: output steps only, or the whole timeline with `include_input`."""
        record = row.record
        steps = list(record.get("output", []))
        if include_input:
            steps = list(record.get("input", [])) + steps
        out: dict[str, Any] = {
            "id": row.id,
            "object": "interaction",
            "status": row.status,
            "model": row.model,
            "created": _ts(row.created),
            "updated": _ts(row.updated),
            "steps": steps,
        }
        if "usage" in record:
            out["usage"] = record["usage"]
        if "error" in record:
            out["error"] = record["error"]
        for key in (
            "system_instruction",
            "generation_config",
            "previous_interaction_id",
            "response_format",
            "tools",
        ):
            if key in record:
                out[key] = record[key]
        return out


def _status(completion: Completion) -> str:
    """`incomplete` for an answer cut by `max_output_tokens` (finish reason MAX_TOKENS), as
    Gemini reports it; `completed` otherwise. Never `requires_continuation`: this server has
    no continuation tokens (the SDKs would re-post to continue). An answer that calls functions
    is `requires_action`: the client runs them and sends back function_result steps."""
    if completion.calls:
        return "requires_action"
    return "incomplete" if completion.finish_reason == "MAX_TOKENS" else "completed"


def _output_start() -> dict[str, Any]:
    return {"event_type": "step.start", "index": 0, "step": {"type": "model_output", "content": []}}
