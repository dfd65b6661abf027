#!/usr/bin/env bash
# Placeholder for `npm run demo` until the real demo lands: installs dependencies, builds, brings the local stack up,
# provisions the default topic and database, and shows one visible Kafka produce/consume and one InfluxDB
# write/query round trip. The stack is left running (stop it with `npm run stack:down`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

step() { printf '\n== %s\n' "$*"; }

if [[ ! -d node_modules/kafkajs ]]; then
  step "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
step "building (npm run build)"
npm run --silent build
step "starting the local stack (Kafka + InfluxDB)"
bash deploy/local/stack.sh up
step "provisioning topic rla-partials and database rla (npm run provision)"
node deploy/dist/provision/cli.js
step "round trip through the real servers"
node deploy/local/demo-roundtrip.mjs
printf '\nDone. The stack is still running; stop it with: npm run stack:down\n'
