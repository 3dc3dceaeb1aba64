"""Which model names this server answers to.

The served model is named by its own id (`qwen3-vl-2b-instruct`) and by every `gemini-*` name,
since client code written for Gemini hard-codes those. Any other name is NOT_FOUND: never a
silent fallback to the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from sightd import errors
from sightd.engine.base import ModelInfo, model_id_for

# Listed by models.list; any other `gemini-*` name resolves too.
LISTED_ALIASES = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-3-flash-preview",
    "gemini-3-pro-preview",
)
DEFAULT_CONTEXT_TOKENS = 32768
DEFAULT_OUTPUT_TOKENS = 8192


@dataclass(frozen=True)
class ModelEntry:
    """One name a client may use, and what it serves."""

    name: str  # without the `models/` prefix
    served_id: str
    is_alias: bool


def strip_models_prefix(name: str) -> str:
    name = name.strip()
    for prefix in ("models/", "tunedModels/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


class ModelCatalog:
    """Resolves requested model names against the configured model source."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.served_id = model_id_for(source)

    def resolve(self, name: str) -> ModelEntry:
        """The entry for `name` (with or without `models/`), or NOT_FOUND."""
        bare = strip_models_prefix(name)
        if bare == self.served_id:
            return ModelEntry(bare, self.served_id, is_alias=False)
        if bare.startswith("gemini-") and len(bare) > len("gemini-"):
            return ModelEntry(bare, self.served_id, is_alias=True)
        raise errors.NotFound(
            f"models/{bare} is not found. This server serves models/{self.served_id} "
            f"(from {self.source}) and answers to gemini-* names as aliases of it.",
            field="model",
        )

    def entries(self) -> list[ModelEntry]:
        return [ModelEntry(self.served_id, self.served_id, False)] + [
            ModelEntry(a, self.served_id, True) for a in LISTED_ALIASES
        ]


def model_resource(entry: ModelEntry, info: ModelInfo | None, source: str) -> dict[str, object]:
    """The Model JSON (§7 of the wire contract); limits come from the loaded model when known."""
    context = info.context_tokens if info else DEFAULT_CONTEXT_TOKENS
    output = info.max_output_tokens if info else DEFAULT_OUTPUT_TOKENS
    served = info.display_name if info else source
    description = (
        f"Alias of {served}, served by sightd."
        if entry.is_alias
        else f"{served}, served by sightd."
    )
    if info is not None and info.extras.get("spatial"):
        description += " " + info.extras["spatial"]
    return {
        "name": f"models/{entry.name}",
        "baseModelId": entry.name,
        "version": "001",
        "displayName": entry.name if entry.is_alias else served,
        "description": description,
        "inputTokenLimit": context,
        "outputTokenLimit": output,
        "supportedGenerationMethods": [
            "generateContent",
            "streamGenerateContent",
            "countTokens",
            "createInteraction",
        ],
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": False,
    }
