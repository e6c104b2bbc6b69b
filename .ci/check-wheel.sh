#!/usr/bin/env bash
# Build the wheel, install it (core only, no heavy extras) into a fresh venv, and check that a
# Jupyter server started from it lists NEXUS and answers /nexus/api/v1/status: 200 with the token,
# 403 without, and names the extras that are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
make wheel
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q dist/nexus_jupyter-*.whl
export JUPYTER_CONFIG_DIR="$work/config" JUPYTER_DATA_DIR="$work/data" NEXUS_DATA_DIR="$work/nexus"
server_exts=$("$work/venv/bin/jupyter" server extension list 2>&1)
lab_exts=$("$work/venv/bin/jupyter" labextension list 2>&1)
grep -q "nexus_server_ext.*enabled" <<<"$server_exts" || { echo "$server_exts"; exit 1; }
grep -q "nexus-jupyterlab.*enabled" <<<"$lab_exts" || { echo "$lab_exts"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
(cd "$work" && exec "$work/venv/bin/jupyter" server --allow-root --no-browser --port="$port" \
  --IdentityProvider.token="$token" >"$work/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 60); do
  curl -fs -o /dev/null -H "Authorization: token $token" "http://127.0.0.1:$port/api/status" && break
  sleep 1
done
with_token=$(curl -s -o "$work/status.json" -w '%{http_code}' -H "Authorization: token $token" \
  "http://127.0.0.1:$port/nexus/api/v1/status")
without=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nexus/api/v1/status")
echo "wheel: /nexus/api/v1/status with token -> $with_token, without -> $without"
[ "$with_token" = 200 ] && [ "$without" = 403 ] || { cat "$work/server.log"; exit 1; }
grep -q 'nexus-jupyter\[local\]' "$work/status.json" || { echo "status does not name the missing extra"; exit 1; }
echo "wheel check ok: built, installed, extension enabled, status 200/403"
