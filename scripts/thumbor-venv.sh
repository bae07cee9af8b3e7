#!/usr/bin/env bash
# Create, once, the virtualenv with thumbor 7.x that the processing benchmark
# compares imghost with (bench/thumbor.py calls this). It lives outside the repo:
#   $IMGHOST_THUMBOR_VENV, else ${XDG_CACHE_HOME:-~/.cache}/imghost-bench/thumbor-venv
#
#   scripts/thumbor-venv.sh [PILLOW_HEIF_VERSION]
#
# PILLOW_HEIF_VERSION (e.g. 1.8.1, the one imghost runs with) pins pillow-heif so
# both sides decode HEIC with the same libheif; thumbor 7 needs it for HEIC.
# Pillow itself is what thumbor allows (it caps Pillow below 13).
# Prints the venv's directory on stdout (progress goes to stderr); exits non-zero
# with pip's message when thumbor cannot be installed.
set -euo pipefail

venv="${IMGHOST_THUMBOR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/imghost-bench/thumbor-venv}"
python="${THUMBOR_PYTHON:-python3}"
heif="${1:-}"
heif_spec="pillow-heif>=1.3,<2"
[ -n "$heif" ] && heif_spec="pillow-heif==$heif"
stamp="$venv/.imghost-bench-installed"
want="thumbor>=7,<8 $heif_spec"

if [ -x "$venv/bin/thumbor" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv"
  exit 0
fi

echo "thumbor-venv: installing $want into $venv" >&2
if [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
# shellcheck disable=SC2086  # $want is two requirement specifiers
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
"$venv/bin/thumbor" --version >/dev/null 2>&1 || "$venv/bin/python" -c "import thumbor" >&2
echo "$want" >"$stamp"
echo "$venv"
