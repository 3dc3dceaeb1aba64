#!/usr/bin/env bash
# Create (or reuse) a separate virtual environment that runs `transformers serve`, the
# OpenAI-compatible upstream that the engine tests put sightd in front of. Prints the
# environment's python path on stdout (everything else goes to stderr).
#
# The venv lives at ${SIGHTD_TEST_CACHE:-$HOME/.cache/sightd-test}/venv-transformers-serve and is
# reused while its stamp file matches the pinned versions. Needs only PyPI (and the pip
# configuration's local wheels, which supply torch/torchvision on this kind of machine).
#
# Environment:
#   TRANSFORMERS_VERSION  transformers release to install; default: the one in the project
#                         venv ($PROJECT_PYTHON or <repo>/.venv/bin/python), else 5.24.0
#   SERVE_TORCH_VERSION / SERVE_TORCHVISION_VERSION   default 2.14.1 / 0.29.1
#   SERVE_BASE_PYTHON     interpreter to build the venv from (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${SIGHTD_TEST_CACHE:-$HOME/.cache/sightd-test}"
venv="$cache/venv-transformers-serve"
torch_version="${SERVE_TORCH_VERSION:-2.14.1}"
torchvision_version="${SERVE_TORCHVISION_VERSION:-0.29.1}"
base_python="${SERVE_BASE_PYTHON:-python3}"

if [[ -z "${TRANSFORMERS_VERSION:-}" ]]; then
    project_python="${PROJECT_PYTHON:-$repo/.venv/bin/python}"
    if [[ -x "$project_python" ]]; then
        TRANSFORMERS_VERSION="$("$project_python" -c \
            'import importlib.metadata as m; print(m.version("transformers"))' 2>/dev/null || true)"
    fi
    TRANSFORMERS_VERSION="${TRANSFORMERS_VERSION:-5.24.0}"
fi

# torchvision: the fast image/video processors. av: video decoding, and its wheel's bundled
# FFmpeg 8 libraries. torchcodec: `transformers serve` classes every VLM as "multimodal" and so
# also loads the audio track of each video, which only torchcodec decodes; torchcodec needs a
# system FFmpeg, so the soname links made below let it use PyAV's instead (no apt needed).
requirements=(
    "torch==$torch_version"
    "torchvision==$torchvision_version"
    "transformers[serving]==$TRANSFORMERS_VERSION"
    "torchcodec==${SERVE_TORCHCODEC_VERSION:-0.17.0}"
    "av"
    "pillow"
    "num2words"
)
stamp_text="$(printf '%s\n' "stamp-v2" "${requirements[@]}")"
stamp="$venv/.sightd-stamp"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

mkdir -p "$cache"
# A lock so two test processes do not build the same venv at once.
exec 9>"$cache/venv-transformers-serve.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
# Another process may have finished the venv while we waited for the lock.
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

echo "setup_transformers_serve: building $venv (${requirements[*]})" >&2
start=$SECONDS
# A venv of an older stamp is updated in place (pip moves pins as needed); a broken one is rebuilt.
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
    "$base_python" -m venv "$venv"
fi
rm -f "$stamp"
# This machine's pip configuration names local index folders that pip warns about once per
# package; the filter keeps those lines out of the log (pip's own exit status is kept).
quiet_pip() {
    "$venv/bin/python" -m pip install -q "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2
    return "${PIPESTATUS[0]}"
}
quiet_pip "${requirements[@]}"
# Standard FFmpeg sonames (libavutil.so.60 ...) beside PyAV's hashed copies, in av.libs itself so
# that their $ORIGIN run paths still find the other bundled libraries. Servers then run with
# LD_LIBRARY_PATH=<site-packages>/av.libs (tests/engines/transformers_serve.py does this).
av_libs="$("$venv/bin/python" -c 'import av, pathlib; print(pathlib.Path(av.__file__).parent.parent / "av.libs")')"
for lib in "$av_libs"/lib{avcodec,avdevice,avfilter,avformat,avutil,swresample,swscale}-*.so.*; do
    name="$(basename "$lib")"
    major="$(sed -E 's/.*\.so\.([0-9]+).*/\1/' <<<"$name")"
    ln -sf "$name" "$av_libs/${name%%-*}.so.$major"
done
# Import check: the serving extra, torchvision, and torchcodec finding FFmpeg for audio.
LD_LIBRARY_PATH="$av_libs" HF_HUB_OFFLINE=1 "$venv/bin/python" -c '
import fastapi, openai, torch, torchvision, transformers, uvicorn
from transformers.utils.import_utils import is_serve_available, is_torchcodec_usable
assert is_serve_available(), "serving extra incomplete"
assert is_torchcodec_usable(decode="audio"), "torchcodec cannot load the FFmpeg libraries"
' >&2
test -x "$venv/bin/transformers"
printf '%s' "$stamp_text" >"$stamp"
echo "setup_transformers_serve: done in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1)" >&2
echo "$venv/bin/python"
