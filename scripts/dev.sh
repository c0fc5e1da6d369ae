#!/usr/bin/env bash
# Sets up the project and runs the bridge on its embedded default:
# SQLite, a generated dev key, the demo biller and the built-in IC simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
INSTANCE="${BRIDGE_INSTANCE:-instance}"
if [ ! -f "$INSTANCE/bridge.toml" ]; then
  .venv/bin/icbridge init "$INSTANCE" --base-url "http://127.0.0.1:${PORT:-8000}"
else
  # The API key and admin token were printed once, at the first run; only their hashes are kept.
  cat <<EOF
Using the existing instance in $INSTANCE/ (delete the folder to start afresh).
  Lost the demo partner API key?  .venv/bin/icbridge billers rotate-key demo --config $INSTANCE/bridge.toml
  Lost the admin token?           .venv/bin/icbridge admin hash --new-token, then put the token_hash line it
                                  prints under [admin] in $INSTANCE/bridge.toml and run this script again
EOF
fi
exec .venv/bin/icbridge serve --config "$INSTANCE/bridge.toml" --port "${PORT:-8000}"
