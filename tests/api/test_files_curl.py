"""The docs' REST upload script (interactions-video.md), run by bash and curl unchanged except
for the base URL: single-quoted start body, the upload URL grepped out of the headers, one
`upload, finalize` request, jq on the reply, then the state-polling loop."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

SCRIPT = r"""
set -euo pipefail
MIME_TYPE=$(file -b --mime-type "${VIDEO_PATH}")
NUM_BYTES=$(wc -c < "${VIDEO_PATH}")
DISPLAY_NAME=VIDEO

tmp_header_file=upload-header.tmp

echo "Starting file upload..."
curl "${BASE_URL}/upload/v1beta/files" \
  -H "x-goog-api-key: $GEMINI_API_KEY" \
  -D ${tmp_header_file} \
  -H "X-Goog-Upload-Protocol: resumable" \
  -H "X-Goog-Upload-Command: start" \
  -H "X-Goog-Upload-Header-Content-Length: ${NUM_BYTES}" \
  -H "X-Goog-Upload-Header-Content-Type: ${MIME_TYPE}" \
  -H "Content-Type: application/json" \
  -d "{'file': {'display_name': '${DISPLAY_NAME}'}}" 2> /dev/null

upload_url=$(grep -i "x-goog-upload-url: " "${tmp_header_file}" | cut -d" " -f2 | tr -d "\r")
rm "${tmp_header_file}"

echo "Uploading video data..."
curl "${upload_url}" \
  -H "Content-Length: ${NUM_BYTES}" \
  -H "X-Goog-Upload-Offset: 0" \
  -H "X-Goog-Upload-Command: upload, finalize" \
  --data-binary "@${VIDEO_PATH}" 2> /dev/null > file_info.json

file_uri=$(jq -r ".file.uri" file_info.json)
file_name=$(jq -r ".file.name" file_info.json)
echo file_uri=$file_uri
echo file_name=$file_name

# Polling loop
echo "Waiting for file to be processed..."
while true; do
  curl -s "${BASE_URL}/v1beta/${file_name}" \
    -H "x-goog-api-key: $GEMINI_API_KEY" > file_status.json
  state=$(jq -r ".state" file_status.json)
  echo "Current state: $state"
  if [ "$state" == "ACTIVE" ]; then
    break
  elif [ "$state" == "FAILED" ]; then
    echo "File processing failed."
    exit 1
  fi
  sleep 5
done
"""

# Stand-ins for CI images without jq or file(1): just the forms the script uses.
JQ_SHIM = """#!{python}
import json, sys
args = [a for a in sys.argv[1:] if a != "-r"]
value = json.load(open(args[1]))
for key in args[0].strip(".").split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("null" if value is None else value)
"""
FILE_SHIM = """#!{python}
import mimetypes, sys
print(mimetypes.guess_type(sys.argv[-1])[0] or "application/octet-stream")
"""


def _shims(bin_dir: Path) -> None:
    for name, text in (("jq", JQ_SHIM), ("file", FILE_SHIM)):
        if shutil.which(name) is None:
            path = bin_dir / name
            path.write_text(text.format(python=sys.executable))
            path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_docs_curl_upload_script(make_files_server: Any, tmp_path: Path) -> None:
    server = make_files_server(api_keys=["curl-key"])
    video = tmp_path / "sample.png"
    Image.new("RGB", (32, 32), (0, 90, 200)).save(video, format="PNG")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shims(bin_dir)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "BASE_URL": server.url,
        "VIDEO_PATH": str(video),
        "GEMINI_API_KEY": "curl-key",
    }
    done = subprocess.run(
        ["bash", "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("file_")
    )
    assert lines["file_uri"].startswith(f"{server.url}/v1beta/files/")
    assert lines["file_name"].startswith("files/")
    assert "Current state: ACTIVE" in done.stdout
    info = (tmp_path / "file_info.json").read_text()
    assert '"displayName":"VIDEO"' in info
    assert '"mimeType":"image/png"' in info
    assert f'"sizeBytes":"{video.stat().st_size}"' in info
