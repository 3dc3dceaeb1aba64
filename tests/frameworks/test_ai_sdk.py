"""The Vercel AI SDK (`ai` + `@ai-sdk/google`): `generateText` with `tools` and
`toolChoice: "required"` (mode ANY), run by node (tests/e2e/js/ai_sdk_tools.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.frameworks.checks import assert_all_valid
from tests.frameworks.conftest import MODEL, RUNS, TIMEOUT_S
from tests.frameworks.recorder import Proxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(TIMEOUT_S),
    # pydantic warns about LiteLLM's and google-genai's ReadOnly TypedDicts at import.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

JS_DIR = Path(__file__).resolve().parents[1] / "e2e" / "js"


@pytest.fixture(autouse=True)
def _node() -> None:
    if shutil.which("node") is None or not (JS_DIR / "node_modules" / "ai").is_dir():
        pytest.skip("node or tests/e2e/js/node_modules (npm install) missing")


def test_generate_text_tools_required(proxy: Proxy) -> None:
    proc = subprocess.run(
        ["node", "ai_sdk_tools.mjs", f"{proxy.url}/v1beta", "required", str(RUNS), MODEL],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S - 60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    failures = [json.dumps(bad)[:400] for bad in summary["invalid"]]
    failures += ["(more)"] * (RUNS - summary["valid"] - len(failures))
    assert_all_valid(RUNS, failures, proxy.exchanges)
