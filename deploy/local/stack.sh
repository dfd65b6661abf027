#!/usr/bin/env bash
# Local stack without Docker: a single-node KRaft Apache Kafka broker and InfluxDB 1.8, fetched, started, checked and
# stopped by this script.
#
#   deploy/local/stack.sh up|down|status
#
# Binaries live in a per-user cache (Kafka jars resolved by Maven from deploy/local/kafka/pom.xml, influxd built with
# `go install`), so a second `up`, also from a fresh clone, takes seconds. Data, configs, pid files and logs live in
# the state dir. `down` stops only processes whose pid file is in this state dir and whose command line names it.
#
# Environment (defaults in brackets):
#   RLA_STATE_DIR [<repo>/.state/stack]   RLA_CACHE_DIR [~/.cache/rla]
#   RLA_KAFKA_PORT [19092]  RLA_KAFKA_CONTROLLER_PORT [19093]  RLA_INFLUX_PORT [18086]  RLA_INFLUX_RPC_PORT [18088]
#   RLA_STACK_WAIT_S [180]  how long `up` waits for both servers to answer
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${RLA_STATE_DIR:-$repo/.state/stack}"
cache="${RLA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rla}"
kafka_port="${RLA_KAFKA_PORT:-19092}"
controller_port="${RLA_KAFKA_CONTROLLER_PORT:-19093}"
influx_port="${RLA_INFLUX_PORT:-18086}"
influx_rpc_port="${RLA_INFLUX_RPC_PORT:-18088}"
wait_s="${RLA_STACK_WAIT_S:-180}"
influx_module="github.com/influxdata/influxdb"
influx_version="v1.8.10"

pom="$here/kafka/pom.xml"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
kafka_libs="$cache/kafka-$kafka_version/libs"
influxd_bin="$cache/bin/influxd"
kafka_broker="127.0.0.1:$kafka_port"
influx_url="http://127.0.0.1:$influx_port"

log() { printf '[stack] %s\n' "$*"; }
die() {
  printf '[stack] ERROR: %s\n' "$*" >&2
  exit 1
}

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if ((${#missing[@]} > 0)); then
    die "missing ${missing[*]} on PATH. Install: apt-get install openjdk-17-jre-headless maven golang nodejs (Java 17+, Maven 3, Go 1.21+, Node 20)"
  fi
}

# ---------------------------------------------------------------------------------------------------------------
# Process bookkeeping: a pid counts as ours only if it is alive and its command line names our state dir, so a
# recycled pid or someone else's server on the same port is never signalled.
pid_of() { # name -> pid of our live process, or nothing
  local file="$state/$1.pid" pid
  [[ -f "$file" ]] || return 0
  pid="$(<"$file")"
  if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$state/"; then
    echo "$pid"
  fi
}

port_holder() { # port -> description of the listener, or nothing
  local line
  line="$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1)"
  [[ -n "$line" ]] || return 0
  local users
  users="$(grep -o 'users:(.*)' <<<"$line" || true)"
  echo "${users:-a process not visible to this user}"
}

check_port_free() { # port purpose
  local holder
  holder="$(port_holder "$1")"
  [[ -z "$holder" ]] || die "port $1 ($2) is already in use by $holder. Stop it, or pick another port with the env var (see deploy/local/stack.sh header)."
}

probe() { # extra probe.mjs args...
  [[ -d "$repo/node_modules/kafkajs" ]] || die "node_modules missing: run 'npm ci' in $repo first (the readiness probe uses kafkajs)"
  node "$here/probe.mjs" --kafka "$kafka_broker" --influx "$influx_url" "$@"
}

# ---------------------------------------------------------------------------------------------------------------
# Installation into the per-user cache.
install_kafka() {
  [[ -f "$kafka_libs/.complete" ]] && return 0
  need java mvn
  log "resolving Apache Kafka $kafka_version jars from Maven Central into $kafka_libs (first run only)"
  local tmp="$kafka_libs.tmp.$$"
  rm -rf "$tmp"
  local attempt
  for attempt in 1 2; do
    # Output goes to a log (Maven 3.8 prints colour codes even when quiet) and is shown only on failure.
    if mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$state/mvn.log" 2>&1; then
      break
    fi
    tail -n 30 "$state/mvn.log" >&2
    ((attempt == 2)) && die "mvn could not resolve Kafka $kafka_version jars (network or Maven Central problem); full output: $state/mvn.log"
    log "mvn failed; retrying once in 5 s"
    sleep 5
  done
  ls "$tmp"/kafka_2.13-"$kafka_version".jar >/dev/null || die "mvn finished but kafka_2.13-$kafka_version.jar is missing from $tmp"
  rm -rf "$kafka_libs"
  mv "$tmp" "$kafka_libs"
  touch "$kafka_libs/.complete"
}

is_wanted_influxd() { # path -> true if it is influxd built from the pinned module version
  [[ -x "$1" ]] && go version -m "$1" 2>/dev/null | grep -qE "^\s+mod\s+$influx_module\s+$influx_version\s"
}

install_influxd() {
  [[ -x "$influxd_bin" ]] && return 0
  need go
  mkdir -p "$cache/bin"
  # A developer machine may already hold the same build in GOBIN; reuse it rather than rebuild for 2 minutes.
  local gobin_influxd
  gobin_influxd="$(go env GOPATH)/bin/influxd"
  if is_wanted_influxd "$gobin_influxd"; then
    log "reusing $gobin_influxd ($influx_module $influx_version)"
    cp "$gobin_influxd" "$influxd_bin.tmp.$$" && mv "$influxd_bin.tmp.$$" "$influxd_bin"
    return 0
  fi
  log "building influxd $influx_version with go install into $cache/bin (first run only, ~2 min)"
  local attempt
  for attempt in 1 2; do
    if CGO_ENABLED=0 GOBIN="$cache/bin" GOFLAGS=-buildvcs=false go install "$influx_module/cmd/influxd@$influx_version"; then
      break
    fi
    ((attempt == 2)) && die "go install of influxd $influx_version failed; see output above"
    log "go install failed; retrying once in 5 s"
    sleep 5
  done
  [[ -x "$influxd_bin" ]] || die "go install finished but $influxd_bin is missing"
}

# ---------------------------------------------------------------------------------------------------------------
# Configuration, regenerated on every start so port changes apply; data stays.
write_kafka_config() {
  mkdir -p "$state/kafka/data"
  cat >"$state/kafka/server.properties" <<EOF
# Generated by deploy/local/stack.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$kafka_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$kafka_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$state/kafka/data
num.partitions=6
# Tests create their topics explicitly (ensureTopic); a typo must fail, not silently create a topic.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A single consumer should not wait 3 s for others to join.
group.initial.rebalance.delay.ms=0
# Many short-lived test topics: keep disk use bounded.
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$state/kafka/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

write_influx_config() {
  mkdir -p "$state/influxdb/meta" "$state/influxdb/data" "$state/influxdb/wal"
  cat >"$state/influxdb/influxdb.conf" <<EOF
# Generated by deploy/local/stack.sh on each start; edit the script, not this file.
reporting-disabled = true
bind-address = "127.0.0.1:$influx_rpc_port"

[meta]
  dir = "$state/influxdb/meta"

[data]
  dir = "$state/influxdb/data"
  wal-dir = "$state/influxdb/wal"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$influx_port"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false

[monitor]
  # No _internal database: less write load on a shared 2-core machine.
  store-enabled = false

[logging]
  level = "info"
EOF
}

java_cp() { printf '%s/*' "$kafka_libs"; }

format_kafka_storage() {
  [[ -f "$state/kafka/data/meta.properties" ]] && return 0
  local cluster_id_file="$state/kafka/cluster.id"
  if [[ ! -s "$cluster_id_file" ]]; then
    java -cp "$(java_cp)" kafka.tools.StorageTool random-uuid >"$cluster_id_file"
  fi
  log "formatting Kafka storage (cluster id $(<"$cluster_id_file"))"
  java -cp "$(java_cp)" -Dlog4j2.configurationFile="$state/kafka/log4j2.properties" \
    kafka.tools.StorageTool format --ignore-formatted -t "$(<"$cluster_id_file")" \
    -c "$state/kafka/server.properties" >>"$state/kafka.log" 2>&1 ||
    die "Kafka storage format failed; see $state/kafka.log"
}

# Started in their own session (setsid) so a Ctrl-C in the terminal or test runner that ran `up` does not kill
# them; fd 9 (the state lock) is closed so they do not hold it.
start_kafka() {
  write_kafka_config
  format_kafka_storage
  check_port_free "$kafka_port" "Kafka, RLA_KAFKA_PORT"
  check_port_free "$controller_port" "Kafka controller, RLA_KAFKA_CONTROLLER_PORT"
  log "starting Kafka $kafka_version (log: $state/kafka.log)"
  setsid java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$state/kafka/log4j2.properties" -Dkafka.logs.dir="$state/kafka" \
    -cp "$(java_cp)" kafka.Kafka "$state/kafka/server.properties" \
    </dev/null >>"$state/kafka.log" 2>&1 9>&- &
  echo $! >"$state/kafka.pid"
}

start_influxd() {
  write_influx_config
  check_port_free "$influx_port" "InfluxDB HTTP, RLA_INFLUX_PORT"
  check_port_free "$influx_rpc_port" "InfluxDB RPC, RLA_INFLUX_RPC_PORT"
  log "starting InfluxDB $influx_version (log: $state/influxd.log)"
  setsid "$influxd_bin" run -config "$state/influxdb/influxdb.conf" </dev/null >>"$state/influxd.log" 2>&1 9>&- &
  echo $! >"$state/influxd.pid"
}

stop_one() { # name
  local pid
  pid="$(pid_of "$1")"
  if [[ -z "$pid" ]]; then
    rm -f "$state/$1.pid"
    log "$1: not running"
    return 0
  fi
  log "$1: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 300; i++)); do # Kafka's controlled shutdown takes a few seconds; give it 30 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1: still alive after 30 s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$state/$1.pid"
}

print_endpoints() {
  log "ready: RLA_KAFKA_BROKERS=$kafka_broker RLA_INFLUX_URL=$influx_url (state: $state)"
}

# ---------------------------------------------------------------------------------------------------------------
cmd_up() {
  need node
  local kpid ipid
  kpid="$(pid_of kafka)"
  ipid="$(pid_of influxd)"
  if [[ -n "$kpid" && -n "$ipid" ]] && probe --quiet; then
    log "already running (kafka pid $kpid, influxd pid $ipid)"
    print_endpoints
    return 0
  fi
  install_kafka
  install_influxd
  [[ -n "$kpid" ]] || start_kafka
  [[ -n "$ipid" ]] || start_influxd
  kpid="$(pid_of kafka)"
  ipid="$(pid_of influxd)"
  log "waiting up to ${wait_s}s for both to answer"
  if ! probe --wait-ms "$((wait_s * 1000))" --watch-pid "$kpid" --watch-pid "$ipid"; then
    log "last lines of $state/kafka.log:"
    tail -n 15 "$state/kafka.log" >&2 || true
    log "last lines of $state/influxd.log:"
    tail -n 15 "$state/influxd.log" >&2 || true
    die "stack did not come up; it is left as is for inspection (stop it with: npm run stack:down)"
  fi
  print_endpoints
}

cmd_down() {
  stop_one kafka
  stop_one influxd
}

cmd_status() {
  local rc=0 name pid
  for name in kafka influxd; do
    pid="$(pid_of "$name")"
    if [[ -n "$pid" ]]; then log "$name: running, pid $pid"; else
      log "$name: not running (from $state)"
      rc=1
    fi
  done
  if command -v node >/dev/null && [[ -d "$repo/node_modules/kafkajs" ]]; then
    probe || rc=1
  fi
  return "$rc"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
  up | down | status) ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
  esac
  mkdir -p "$state"
  # One stack.sh at a time per state dir (e.g. two test runs starting the stack at once).
  exec 9>"$state/.lock"
  flock 9
  "cmd_$cmd"
}

main "$@"
