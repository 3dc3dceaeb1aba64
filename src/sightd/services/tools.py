"""Function calling for one generation: which functions the model sees, how its call is made,
and what the client receives.

- ANY: the answer is decoded under a grammar whose instances are exactly the valid calls of
  the allowed functions (`engine.tools.call_schema`), so it always names one of them with
  arguments valid under its schema;
- VALIDATED on a model without a tool syntax: the same grammar also admits a direct answer
  `{"text": …}`, so the model may answer or call, and any call is valid;
- AUTO and VALIDATED on a model with a tool syntax (Qwen's `<tool_call>`): the model chooses;
  its calls are parsed from the text and checked, and an answer with a call that does not parse
  or validate is made again under the ANY grammar (once), so a broken call never reaches the
  client; if even that fails the candidate ends with MALFORMED_FUNCTION_CALL and no call;
- AUTO on a model without a tool syntax is refused: it cannot choose between text and a call;
- NONE: the functions are not shown and the model answers in text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from dataclasses import dataclass

from sightd import errors
from sightd.engine.base import Capabilities, Completion, JsonOutput, SamplingParams
from sightd.engine.constrain import JSON_MIME, constraint_for
from sightd.engine.tools import ToolCallScanner, call_schema, check_call, split_calls
from sightd.prompt import FunctionCallPart, FunctionDecl, Prompt
from sightd.services.inputs import GenerateInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolPlan:
    """How this request's functions are offered. `grammar`: the call is made under it (ANY);
    None: the model chooses and its text is parsed for calls."""

    decls: tuple[FunctionDecl, ...]
    grammar: JsonOutput | None
    allow_text: bool = False  # the grammar also admits a direct answer `{"text": …}`

    def prompt(self, prompt: Prompt) -> Prompt:
        return dataclasses.replace(prompt, tools=self.decls)

    def params(self, params: SamplingParams) -> SamplingParams:
        if self.grammar is None:
            return params
        return dataclasses.replace(params, constraint=self.grammar)

    def strict(self, params: SamplingParams) -> SamplingParams:
        """The retry of a malformed call: the same request under the call grammar."""
        return dataclasses.replace(params, constraint=grammar_for(self.decls))

    def scanner(self) -> ToolCallScanner | None:
        """A scanner that holds back streamed text once a call starts (choosing modes)."""
        return ToolCallScanner() if self.grammar is None else None


def plan_tools(inp: GenerateInput, capabilities: Capabilities, model: str) -> ToolPlan | None:
    """The plan for `inp`'s tools on a backend with `capabilities`; None: no functions offered."""
    choice = inp.tool_choice
    mode_field = f"{choice.field}.mode"
    allowed_field = f"{choice.field}.allowed_function_names"
    declared = {d.name: d for d in inp.tools}
    unknown = [n for n in choice.allowed if n not in declared]
    if unknown:
        raise errors.InvalidArgument(
            f"allowedFunctionNames names {unknown[0]!r}, which is not a declared function.",
            field=allowed_field,
        )
    if choice.allowed and choice.mode not in ("ANY", "VALIDATED"):
        raise errors.InvalidArgument(
            "allowedFunctionNames can only be set when the mode is ANY or VALIDATED.",
            field=allowed_field,
        )
    if not inp.tools or choice.mode == "NONE":
        if choice.mode in ("ANY", "VALIDATED") and not inp.tools:
            raise errors.InvalidArgument(
                f"functionCallingConfig mode {choice.mode} needs tools with functionDeclarations.",
                field=mode_field,
            )
        return None
    offered = tuple(declared[n] for n in dict.fromkeys(choice.allowed)) or inp.tools
    if choice.mode == "ANY":
        return ToolPlan(offered, grammar_for(offered))
    if choice.mode == "VALIDATED" and not capabilities.tool_calls:
        return ToolPlan(offered, grammar_for(offered, allow_text=True), allow_text=True)
    if not capabilities.tool_calls:
        raise errors.InvalidArgument(
            f"{model} has no tool-call syntax, so it cannot choose between answering and calling "
            "a function (mode AUTO). Set the mode to ANY (toolConfig.functionCallingConfig, or "
            'the Interactions tool_choice "any"): the call is then made under a grammar and '
            "always valid.",
            field=mode_field,
        )
    return ToolPlan(offered, None)


def grammar_for(decls: tuple[FunctionDecl, ...], *, allow_text: bool = False) -> JsonOutput:
    """The JSON constraint whose instances are the valid calls of `decls` (and a direct
    answer `{"text": …}` with `allow_text`)."""
    schema = call_schema(decls, allow_text=allow_text)
    constraint = constraint_for(JSON_MIME, None, schema, field="tools")
    assert isinstance(constraint, JsonOutput)
    return constraint


def new_call_id() -> str:
    return "call_" + secrets.token_hex(8)


def finish_constrained(
    done: Completion, decls: tuple[FunctionDecl, ...], *, allow_text: bool = False
) -> Completion:
    """The answer decoded under the call grammar, as one call (MALFORMED_FUNCTION_CALL if it
    still does not check, e.g. cut short, so no broken call is ever sent); with `allow_text`
    a direct answer `{"text": …}` becomes plain text."""
    if allow_text:
        try:
            value = json.loads(done.text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and set(value) == {"text"} and isinstance(value["text"], str):
            return dataclasses.replace(done, text=value["text"])
    try:
        name, args = check_call(done.text, decls)
    except ValueError as e:
        log.warning("a function call decoded under its grammar does not check: %s", e)
        return dataclasses.replace(done, text="", finish_reason="MALFORMED_FUNCTION_CALL")
    call = FunctionCallPart(name, _compact(args), new_call_id())
    # A whole, valid call is a finished answer even when the grammar closed it right at the
    # token limit (clients such as the AI SDK run a call only when it ends with STOP).
    return dataclasses.replace(done, text="", calls=(call,), finish_reason="STOP")


def finish_chosen(done: Completion, decls: tuple[FunctionDecl, ...]) -> Completion | None:
    """The model's own answer with its calls parsed out; None when a call is malformed (the
    caller makes the answer again under the call grammar)."""
    text, blocks = split_calls(done.text)
    if not blocks:
        return done
    calls = []
    for block in blocks:
        try:
            name, args = check_call(block, decls)
        except ValueError:
            return None
        calls.append(FunctionCallPart(name, _compact(args), new_call_id()))
    return dataclasses.replace(done, text=text, calls=tuple(calls), finish_reason="STOP")


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
