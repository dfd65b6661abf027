#!/usr/bin/env bash
# Brings the Docker Compose stack (deploy/compose/docker-compose.yml) up in dependency order, each step waiting for
# the previous one to be healthy, then runs the smoke check:
#   1. kafka + influxdb   (healthy: broker answers API-versions; the database's retention policy exists)
#   2. provision          (one-shot: creates the partials topic; must exit 0)
#   3. central            (healthy: /healthz)
#   4. grafana            (healthy: /api/health)
#   5. web hosts          (nginx web1..web3, their agents, the traffic generator; agents healthy: /healthz)
#   6. smoke              (npm run smoke against the published ports, waiting for fresh http_stats points)
#
#   deploy/deploy.sh up | down [--volumes] | status | smoke | logs [service...]
#
# Settings come from deploy/.env (copy deploy/.env.example; RLA_ENV_FILE names another file). Uses `docker compose`
# when available, else `docker-compose`; RLA_COMPOSE overrides (e.g. RLA_COMPOSE=docker-compose).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
env_file="${RLA_ENV_FILE:-$here/.env}"
compose_file="$here/compose/docker-compose.yml"

log() { printf '[deploy] %s\n' "$*"; }
die() {
  printf '[deploy] ERROR: %s\n' "$*" >&2
  exit 1
}

[[ -f "$env_file" ]] || die "$env_file is missing: cp deploy/.env.example deploy/.env and set its passwords"

# A value from the env file (the last KEY=... line), the environment winning; not `source`d, because compose's env
# file syntax is not shell syntax (unquoted spaces).
setting() { # KEY default
  local from_env="${!1:-}" line
  if [[ -n "$from_env" ]]; then
    printf '%s' "$from_env"
    return
  fi
  line="$(grep -E "^$1=" "$env_file" | tail -n 1 || true)"
  if [[ -n "$line" ]]; then printf '%s' "${line#*=}"; else printf '%s' "$2"; fi
}

project="$(setting COMPOSE_PROJECT_NAME rla)"
wait_s="$(setting DEPLOY_WAIT_S 300)"

if [[ -n "${RLA_COMPOSE:-}" ]]; then
  read -r -a compose_cmd <<<"$RLA_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is available"
fi

compose() { "${compose_cmd[@]}" -p "$project" --env-file "$env_file" -f "$compose_file" "$@"; }

# The container of a service, found by the labels both Compose v1 and v2 set (also when it has exited).
container_of() { # service
  docker ps -aq --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" | head -n 1
}

fail_with_logs() { # service message
  log "last lines of $1's log:"
  compose logs --tail 30 "$1" >&2 || true
  die "$2"
}

wait_healthy() { # service...
  local svc id health state deadline=$((SECONDS + wait_s))
  for svc in "$@"; do
    log "waiting up to ${wait_s}s for $svc to be healthy"
    while :; do
      id="$(container_of "$svc")"
      if [[ -n "$id" ]]; then
        state="$(docker inspect -f '{{.State.Status}}' "$id")"
        health="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
        case "$health" in
        healthy) break ;;
        unhealthy) fail_with_logs "$svc" "$svc is unhealthy" ;;
        none) die "$svc has no healthcheck to wait for" ;;
        esac
        [[ "$state" == exited || "$state" == dead ]] && fail_with_logs "$svc" "$svc stopped ($state) before it was healthy"
      fi
      ((SECONDS < deadline)) || fail_with_logs "$svc" "$svc was not healthy within ${wait_s}s"
      sleep 2
    done
    log "$svc: healthy"
  done
}

wait_completed() { # service: a one-shot that must exit 0
  local id state code deadline=$((SECONDS + wait_s))
  log "waiting up to ${wait_s}s for $1 to finish"
  while :; do
    id="$(container_of "$1")"
    if [[ -n "$id" ]]; then
      state="$(docker inspect -f '{{.State.Status}}' "$id")"
      if [[ "$state" == exited || "$state" == dead ]]; then
        code="$(docker inspect -f '{{.State.ExitCode}}' "$id")"
        [[ "$code" == 0 ]] || fail_with_logs "$1" "$1 failed (exit code $code)"
        log "$1: done"
        return 0
      fi
    fi
    ((SECONDS < deadline)) || fail_with_logs "$1" "$1 did not finish within ${wait_s}s"
    sleep 2
  done
}

cmd_smoke() {
  local wait_ms="${1:-$(setting DEPLOY_SMOKE_WAIT_MS 240000)}"
  if [[ "$wait_ms" == 0 ]]; then
    log "smoke: skipped (DEPLOY_SMOKE_WAIT_MS=0)"
    return 0
  fi
  [[ -f "$repo/deploy/dist/smoke/cli.js" ]] || die "smoke needs the built repo: run 'npm ci && npm run build' in $repo"
  log "smoke: waiting up to ${wait_ms} ms for every check to pass"
  RLA_INFLUX_TOKEN="$(setting INFLUX_READ_USER rla_grafana):$(setting INFLUX_READ_PASSWORD '')" \
    node "$repo/deploy/dist/smoke/cli.js" \
    --kafka "127.0.0.1:$(setting RLA_KAFKA_PORT 19092)" \
    --influx "http://127.0.0.1:$(setting RLA_INFLUX_PORT 18086)" \
    --grafana "http://127.0.0.1:$(setting GRAFANA_PORT 3000)" \
    --group rla-central \
    --wait-ms "$wait_ms"
}

cmd_up() {
  log "building images"
  compose build
  log "step 1/6: kafka + influxdb"
  compose up -d kafka influxdb
  wait_healthy kafka influxdb
  log "step 2/6: provision"
  compose up -d provision
  wait_completed provision
  log "step 3/6: central"
  compose up -d central
  wait_healthy central
  log "step 4/6: grafana"
  compose up -d grafana
  wait_healthy grafana
  log "step 5/6: web hosts"
  compose up -d web1 web2 web3 web1-agent web2-agent web3-agent traffic
  wait_healthy web1 web2 web3 web1-agent web2-agent web3-agent
  log "step 6/6: smoke"
  cmd_smoke
  log "up: Grafana http://127.0.0.1:$(setting GRAFANA_PORT 3000), Kafka 127.0.0.1:$(setting RLA_KAFKA_PORT 19092), InfluxDB http://127.0.0.1:$(setting RLA_INFLUX_PORT 18086)"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
  up) cmd_up ;;
  down)
    # --volumes also deletes Kafka, InfluxDB, Grafana and agent state: a fresh start.
    compose down "$@"
    ;;
  status) compose ps ;;
  smoke) cmd_smoke "$@" ;;
  logs) compose logs --tail 100 "$@" ;;
  *)
    echo "usage: $0 up | down [--volumes] | status | smoke [wait-ms] | logs [service...]" >&2
    exit 2
    ;;
  esac
}

main "$@"
