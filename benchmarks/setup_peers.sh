#!/usr/bin/env sh
# Create the peers' benchmark virtual environment (benchmarks/.peers/venv, gitignored).
# Idempotent: re-running upgrades nothing that is already installed. A peer that fails to
# install is left out; run.py then prints "n/a (not installed)" for it.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$HERE/.peers/venv"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || exit 1
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true

status=0
LOG="$HERE/.peers/pip.log"
for pkg in httpx llm "pydantic-ai-slim[openai]" openai-agents; do
    echo "setup_peers: installing $pkg" >&2
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$pkg" >"$LOG" 2>&1; then
        grep -v '^WARNING: Location' "$LOG" >&2
        echo "setup_peers: could not install $pkg (its scenarios will print n/a)" >&2
        status=1
    fi
done
"$VENV/bin/python" -m pip freeze --disable-pip-version-check \
    | grep -Ei '^(llm|pydantic-ai-slim|pydantic_ai_slim|openai-agents|openai_agents|openai|httpx)=' \
    > "$HERE/.peers/versions.txt" 2>/dev/null || true
exit $status
