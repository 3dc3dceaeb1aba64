"""Two sightd replicas on one PostgreSQL and one S3 bucket (moto in server mode): each serves
the other's files and interactions, a delete on one is seen by the other, and an upload begun
on a replica that is killed with SIGKILL mid-chunk is finished on the other with its sha256
intact.

Replica 1 is a real `sightd serve` process (so it can be killed -9); it runs the openai engine
pointed at nothing, since it only stores files. Replica 2 is an in-process server with the tiny
model, which answers the generation that uses replica 1's upload.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.media_factory import image_bytes
from tests.s3 import new_bucket, s3_endpoint  # noqa: F401  (the moto server fixture)
from tests.serve_process import ServeProcess

API_KEY = "replica-key"
MiB = 1024 * 1024
CHUNK = 8 * MiB  # the SDKs' chunk size


@pytest.fixture
def replicas(
    make_server: Any,
    postgres_url: str,
    s3_endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[Any, Any, Any, str]]:
    """(replica 1: a `sightd serve` process, replica 2: a live in-process server, the boto3
    client, the bucket) sharing one database and one bucket."""
    s3, bucket = new_bucket(s3_endpoint)
    shared = {
        "database_url": postgres_url,
        "blob_store": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": bucket,
        "s3_region": "us-east-1",
        # 5 MiB parts against 8 MiB chunks: parts straddle chunks, and the killed replica has
        # already stored a part past the committed bytes when it dies.
        "s3_part_bytes": str(5 * MiB),
        "api_keys": API_KEY,
    }
    one_dir = tmp_path / "replica1"
    one_dir.mkdir()
    one = ServeProcess(
        one_dir, engine="openai", upstream_url="http://127.0.0.1:9/v1", replica_id="r1", **shared
    )
    try:
        two = make_server(replica_id="r2", **shared)
        yield one, two, s3, bucket
    finally:
        one.stop()


def _client(url: str) -> genai.Client:
    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=url))


@pytest.mark.postgres
@pytest.mark.slow
def test_replicas_serve_each_others_files_and_finish_each_others_uploads(
    replicas: tuple[Any, Any, Any, str], tmp_path: Path
) -> None:
    one, two, s3, bucket = replicas
    c1, c2 = _client(one.url), _client(two.url)

    # Upload on 1, generate on 2 with it, delete on 1: gone on 2.
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(800, 600))
    uploaded = c1.files.upload(file=str(photo))
    assert uploaded.state.name == "ACTIVE"
    assert c2.files.get(name=uploaded.name).sha256_hash == uploaded.sha256_hash
    response = c2.models.generate_content(
        model="gemini-2.5-flash",
        contents=[uploaded, "Caption this image."],
        config=types.GenerateContentConfig(max_output_tokens=4),
    )
    details = {
        d.modality.name: d.token_count for d in response.usage_metadata.prompt_tokens_details
    }
    assert details["IMAGE"] == 258 * 4  # replica 2 decoded replica 1's 800x600 upload
    interaction = c2.interactions.create(
        model="gemini-2.5-flash",
        input=[
            {"type": "image", "uri": uploaded.uri, "mime_type": "image/jpeg"},
            {"type": "text", "text": "What is it?"},
        ],
        generation_config={"max_output_tokens": 3},
    )
    seen_on_one = c1.interactions.get(id=interaction.id)  # stored by 2, read back on 1
    assert seen_on_one.id == interaction.id and seen_on_one.steps[0].type == "user_input"
    c1.files.delete(name=uploaded.name)
    with pytest.raises(genai_errors.ClientError) as gone:
        c2.files.get(name=uploaded.name)
    assert gone.value.code == 404
    with pytest.raises(genai_errors.ClientError) as unusable:
        c2.models.generate_content(model="gemini-2.5-flash", contents=[uploaded, "Again?"])
    assert unusable.value.code in (400, 403, 404)

    # A resumable upload begun on 1; 1 is killed -9 in the middle of a chunk; 2 finishes it.
    data = os.urandom(2 * CHUNK + 3 * MiB + 4321)
    start = httpx.post(
        f"{one.url}/upload/v1beta/files",
        headers={
            "x-goog-api-key": API_KEY,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "video/mp4",
            "Content-Type": "application/json",
        },
        content=b'{"file": {"display_name": "failover"}}',
    )
    assert start.status_code == 200, start.text
    url_on_one = start.headers["x-goog-upload-url"]
    assert url_on_one.startswith(one.url)
    url_on_two = two.url + url_on_one[len(one.url) :]

    def send(url: str, offset: int, body: Any, command: str = "upload") -> httpx.Response:
        headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
        return httpx.post(url, headers=headers, content=body, timeout=60)

    first = send(url_on_one, 0, data[:CHUNK])
    assert first.headers["x-goog-upload-size-received"] == str(CHUNK)

    halfway = threading.Event()

    def dripped() -> Iterator[bytes]:  # the second chunk, cut short by the kill
        for i in range(CHUNK, CHUNK + 5 * MiB, MiB):
            yield data[i : i + MiB]
        halfway.set()
        time.sleep(30)  # the connection dies with the process long before this ends
        yield data[CHUNK + 5 * MiB : 2 * CHUNK]

    outcome: list[Any] = []

    def second_chunk() -> None:
        try:
            outcome.append(send(url_on_one, CHUNK, dripped()))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=second_chunk, daemon=True)
    sender.start()
    assert halfway.wait(60)

    def part_two_stored() -> bool:  # replica 1 spooled past 10 MiB and put part 2
        listing = s3.list_objects_v2(Bucket=bucket, Prefix="sightd/partial/")
        return any(o["Key"].endswith("/part-00002") for o in listing.get("Contents", []))

    deadline = time.time() + 30
    while not part_two_stored():
        assert time.time() < deadline, "replica 1 never stored part 2"
        time.sleep(0.1)
    one.kill()  # SIGKILL with a part written past the committed 8 MiB
    sender.join(60)
    assert outcome and isinstance(outcome[0], httpx.HTTPError)  # the client saw the crash

    # The client asks replica 2 where it stands and resumes from there (the SDK's recovery).
    query = send(url_on_two, 0, b"", "query")
    assert query.status_code == 200, query.text
    received = int(query.headers["x-goog-upload-size-received"])
    assert received == CHUNK  # the interrupted chunk was never committed
    second = send(url_on_two, received, data[received : received + CHUNK])
    assert second.headers["x-goog-upload-size-received"] == str(2 * CHUNK)
    done = send(url_on_two, 2 * CHUNK, data[2 * CHUNK :], "upload, finalize")
    assert done.status_code == 200, done.text
    assert done.headers["x-goog-upload-status"] == "final"
    file = done.json()["file"]
    want = hashlib.sha256(data).hexdigest()
    assert base64.b64decode(file["sha256Hash"]).decode() == want
    assert file["sizeBytes"] == str(len(data))

    # The stored object itself, read back through S3, has the same bytes.
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="sightd/blobs/")["Contents"]
    stored = [o for o in objects if o["Size"] == len(data)]
    assert len(stored) == 1
    body = s3.get_object(Bucket=bucket, Key=stored[0]["Key"])["Body"]
    hasher = hashlib.sha256()
    while piece := body.read(MiB):
        hasher.update(piece)
    assert hasher.hexdigest() == want
    # Nothing of the partial upload is left behind.
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="sightd/partial/")
    assert c2.files.get(name=file["name"]).size_bytes == len(data)
