"""The docs' REST upload script (interactions-video.md), run by bash and curl unchanged except
for the base URL: single-quoted start body, the upload URL grepped out of the headers, one
`upload, finalize` request, jq on the reply, then the state-polling loop."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

EXAMPLE = Path(__file__).parents[1] / "e2e" / "examples" / "vid_ia_04_upload.sh"
# The page's script up to the upload, the file_uri/file_name extraction and the polling loop
# (the interactions call at its end needs a model; tests/e2e runs the whole script).
SCRIPT = "set -euo pipefail\n" + EXAMPLE.read_text().split('echo "Generating content')[0]


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
    video = tmp_path / "sample.mp4"  # the script's name for it; the bytes are a PNG
    Image.new("RGB", (32, 32), (0, 90, 200)).save(video, format="PNG")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shims(bin_dir)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "BASE": server.url,
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
    assert json.loads((tmp_path / "file_info.json").read_text())["file"]["name"].startswith(
        "files/"
    )
    assert "Current state: ACTIVE" in done.stdout
    info = (tmp_path / "file_info.json").read_text()
    assert '"displayName":"VIDEO"' in info
    assert '"mimeType":"image/png"' in info
    assert f'"sizeBytes":"{video.stat().st_size}"' in info
