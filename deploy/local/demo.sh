#!/usr/bin/env bash
# `npm run demo [-- --duration 180]`: the README's main command. On a fresh machine it installs what is missing
# (Debian's nginx and wrk, the npm dependencies), builds, starts the local Kafka + InfluxDB stack, then runs the live
# demo (deploy/src/demo/cli.ts): 3 nginx hosts, traffic with planted anomalies, 3 edge agents, central, and a terminal
# view refreshed every window. The stack stays up afterwards for Grafana or a second run; `npm run stack:down` stops it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

step() { printf '\n== %s\n' "$*"; }

missing=()
for tool in nginx:nginx wrk:wrk; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${tool%%:*}" ]] || missing+=("${tool##*:}")
done
if ((${#missing[@]} > 0)); then
  step "installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "need root to install ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' first" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin"

if [[ ! -d node_modules/kafkajs ]]; then
  step "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
step "building (npm run build)"
npm run --silent build
step "starting the local stack (Kafka + InfluxDB)"
bash deploy/local/stack.sh up
step "running the demo"
exec node deploy/dist/demo/cli.js "$@"
