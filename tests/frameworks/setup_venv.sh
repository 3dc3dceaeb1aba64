#!/usr/bin/env bash
# Builds the venv tests/frameworks runs in: the agent frameworks pinned in pyproject.toml's
# `frameworks` extra, over the main venv. pydantic-ai-slim[google] and langchain-google-genai
# declare google-genai<3 while the main venv has 3.x, so they get a venv of their own; every
# package both have is held to the main venv's exact version, and a .pth file lets this venv
# see the main one's site-packages (torch, transformers, the editable sightd) underneath.
# Usage: setup_venv.sh MAIN_PYTHON DEST
set -euo pipefail
main_py=$1
dest=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
"$main_py" -m venv "$dest"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$main_py" -m pip freeze | grep -v -iE '^(google-genai|-e |sightd)' | grep '==' > "$constraints"
mapfile -t pins < <("$main_py" - "$root/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    for pin in tomllib.load(fh)["project"]["optional-dependencies"]["frameworks"]:
        print(pin)
PY
)
"$dest/bin/python" -m pip install -q --upgrade pip
"$dest/bin/python" -m pip install -q -c "$constraints" "${pins[@]}"
site=$("$main_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
own=$("$dest/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$site')" > "$own/zz_sightd_main_venv.pth"
