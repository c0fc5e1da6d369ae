#!/usr/bin/env bash
# Sets up the project and runs the bridge on its embedded default:
# SQLite, a generated dev key, the demo biller and the built-in IC simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
INSTANCE="${BRIDGE_INSTANCE:-instance}"
if [ ! -f "$INSTANCE/bridge.toml" ]; then
  .venv/bin/icbridge init "$INSTANCE" --base-url "http://127.0.0.1:${PORT:-8000}"
fi
exec .venv/bin/icbridge serve --config "$INSTANCE/bridge.toml" --port "${PORT:-8000}"
