"""The official google-genai SDK against a live server: upload (one chunk and several 8 MiB
chunks), get, list with paging, delete; sync and async clients; a base-path prefix."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image


def png_file(tmp_path: Path, name: str = "red.png") -> Path:
    path = tmp_path / name
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, format="PNG")
    return path


def test_upload_png_get_delete(files_client: Any, files_server: Any, tmp_path: Path) -> None:
    path = png_file(tmp_path)
    data = path.read_bytes()
    uploaded = files_client.files.upload(file=str(path), config={"display_name": "red square"})
    assert uploaded.name.startswith("files/")
    file_id = uploaded.name.removeprefix("files/")
    assert file_id.isalnum() and file_id.islower()
    assert uploaded.mime_type == "image/png"
    assert uploaded.size_bytes == len(data)
    assert uploaded.display_name == "red square"
    assert uploaded.state == types.FileState.ACTIVE
    assert uploaded.source == types.FileSource.UPLOADED
    assert uploaded.uri == f"{files_server.url}/v1/files/{file_id}"
    assert base64.b64decode(uploaded.sha256_hash).decode() == hashlib.sha256(data).hexdigest()
    ttl = timedelta(seconds=files_server.settings.file_ttl_s)
    assert uploaded.expiration_time - uploaded.create_time == ttl

    got = files_client.files.get(name=uploaded.name)
    assert got == uploaded
    files_client.files.delete(name=uploaded.name)
    with pytest.raises(genai_errors.ClientError) as caught:
        files_client.files.get(name=uploaded.name)
    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"


def test_upload_20mb_in_8mib_chunks(files_client: Any, files_server: Any, tmp_path: Path) -> None:
    data = os.urandom(20 * 1024 * 1024)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    uploaded = files_client.files.upload(
        file=str(path), config={"mime_type": "application/octet-stream"}
    )
    assert uploaded.size_bytes == len(data)
    digest = base64.b64decode(uploaded.sha256_hash).decode()
    assert digest == hashlib.sha256(data).hexdigest()
    blobs = list((files_server.settings.blob_dir / "files").rglob("*"))
    stored = [p for p in blobs if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == data


def test_upload_from_file_object(files_client: Any) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    buf.seek(0)
    uploaded = files_client.files.upload(file=buf, config={"mime_type": "image/png"})
    assert uploaded.size_bytes == len(buf.getvalue())
    assert uploaded.state == types.FileState.ACTIVE


def test_list_pages(files_client: Any, tmp_path: Path) -> None:
    path = png_file(tmp_path)
    names = [files_client.files.upload(file=str(path)).name for _ in range(5)]
    pager = files_client.files.list(config={"page_size": 2})
    assert len(pager.page) == 2
    listed = [f.name for f in pager]
    assert listed == list(reversed(names))


def test_async_client(files_server: Any, tmp_path: Path) -> None:
    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=files_server.url))
    path = png_file(tmp_path)

    async def scenario() -> None:
        uploaded = await client.aio.files.upload(file=str(path))
        got = await client.aio.files.get(name=uploaded.name)
        assert got.state == types.FileState.ACTIVE
        await client.aio.files.delete(name=uploaded.name)

    asyncio.run(scenario())


def test_base_path_prefix_and_v1beta(make_files_server: Any, tmp_path: Path) -> None:
    server = make_files_server(path_prefix="/gemini")
    client = genai.Client(
        api_key="test",
        http_options=types.HttpOptions(base_url=server.url + "/gemini/", api_version="v1beta"),
    )
    uploaded = client.files.upload(file=str(png_file(tmp_path)))
    assert uploaded.uri.startswith(f"{server.url}/gemini/v1beta/files/")
    assert client.files.get(name=uploaded.name).uri == uploaded.uri
