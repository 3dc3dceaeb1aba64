"""The whole app on PostgreSQL: upload, generate with the file, interactions stored and read
back, through the official SDK — the same code path as SQLite, on the scale-out database."""

from __future__ import annotations

from typing import Any

import pytest
from google import genai
from google.genai import types

from tests.media_factory import image_bytes


@pytest.mark.postgres
def test_files_generate_and_interactions_on_postgres(
    make_server: Any, postgres_url: str, tmp_path: Any
) -> None:
    srv = make_server(database_url=postgres_url)
    client = genai.Client(api_key="pg", http_options=types.HttpOptions(base_url=srv.url))
    path = tmp_path / "photo.jpg"
    path.write_bytes(image_bytes(800, 600))
    uploaded = client.files.upload(file=str(path))
    assert uploaded.state.name == "ACTIVE"
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[uploaded, "Caption this image."],
        config=types.GenerateContentConfig(max_output_tokens=4),
    )
    details = {
        d.modality.name: d.token_count for d in response.usage_metadata.prompt_tokens_details
    }
    assert details["IMAGE"] == 258 * 4  # 800x600 → unit 400 → 2x2 tiles
    names = [f.name for f in client.files.list()]
    assert uploaded.name in names
    interaction = client.interactions.create(
        model="gemini-2.5-flash",
        input=[
            {"type": "image", "uri": uploaded.uri, "mime_type": "image/jpeg"},
            {"type": "text", "text": "What is it?"},
        ],
        generation_config={"max_output_tokens": 3},
    )
    stored = client.interactions.get(id=interaction.id)
    assert stored.steps[0].type == "user_input" and stored.status in ("completed", "incomplete")
    client.files.delete(name=uploaded.name)
