#!/usr/bin/env bash
# Create, once, the virtualenv with thumbor that the processing benchmark compares
# imghost with (bench/thumbor.py calls this). It lives outside the repo:
#   $IMGHOST_THUMBOR_VENV, else ${XDG_CACHE_HOME:-~/.cache}/imghost-bench/thumbor-venv
#
#   scripts/thumbor-venv.sh
#
# It installs exactly scripts/thumbor-requirements.txt (every package pinned, see
# there why) with $THUMBOR_PYTHON (default python3, 3.11 on the project's machines).
# A venv made from other pins is made again from scratch, so no package of an older
# set stays behind. Prints the venv's directory on stdout (progress goes to stderr);
# exits non-zero with pip's message when thumbor cannot be installed or imported.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/thumbor-requirements.txt"
venv="${IMGHOST_THUMBOR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/imghost-bench/thumbor-venv}"
python="${THUMBOR_PYTHON:-python3}"
stamp="$venv/.imghost-bench-installed"
# The stamp holds the pins' hash: editing the requirements file rebuilds the venv.
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ -x "$venv/bin/thumbor" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv"
  exit 0
fi

if [ -e "$venv" ]; then
  # Only ever delete a virtualenv: the variable may point anywhere.
  if [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "thumbor-venv: $venv exists and is not a virtualenv; remove it or set IMGHOST_THUMBOR_VENV" >&2
    exit 1
  fi
  rm -rf "$venv"
fi
echo "thumbor-venv: installing $(grep -c '==' "$requirements") pinned packages into $venv" >&2
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv" >&2
# --no-deps: the file is the whole set; a package it lacks fails `pip check` below
# instead of being resolved afresh.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  -r "$requirements" >&2
"$venv/bin/python" -m pip check --disable-pip-version-check >&2
"$venv/bin/python" -c "import thumbor.server, thumbor.engines.pil, pillow_heif" >&2
echo "$want" >"$stamp"
echo "$venv"
