#!/bin/sh
# Demo traffic for the three web hosts: steady requests from a pool of client addresses (via X-Forwarded-For), some
# 404s and 503s, and now and then a burst from one address (an ip_spike) and a probe of many URLs (a url_scan).
#
# Environment: TRAFFIC_TARGETS (space-separated base URLs), TRAFFIC_INTERVAL_S (pause between requests, default 0.05),
# TRAFFIC_BURST_EVERY (requests between anomaly bursts, default 3000; 0 = never).
set -eu
targets="${TRAFFIC_TARGETS:-http://web1:8080 http://web2:8080 http://web3:8080}"
interval="${TRAFFIC_INTERVAL_S:-0.05}"
burst_every="${TRAFFIC_BURST_EVERY:-3000}"
# shellcheck disable=SC2086 # the targets are a word list
hosts=$(set -- $targets && echo $#)

get() { # url client-ip
  wget -q -O /dev/null -T 5 --header "X-Forwarded-For: $2" --header "User-Agent: rla-demo-traffic" "$1" 2>/dev/null || true
}

rand() { # n -> 0..n-1
  echo $(($(od -An -N2 -tu2 /dev/urandom) % $1))
}

nth() { # n word... -> the n-th word
  shift "$1"
  echo "$1"
}

n=0
while :; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  base=$(nth $(($(rand "$hosts") + 1)) $targets)
  ip="10.$(rand 4).$(rand 256).$(( $(rand 250) + 1 ))"
  case "$(rand 10)" in
    0) path="/missing-$(rand 20).html" ;;
    1 | 2) path="/api/flaky" ;;
    3 | 4) path="/static/app.js" ;;
    5 | 6 | 7) path="/api/items?page=$(rand 50)" ;;
    *) path="/" ;;
  esac
  get "$base$path" "$ip"
  if [ "$burst_every" -gt 0 ] && [ $((n % burst_every)) -eq 0 ]; then
    j=0
    while [ $j -lt 300 ]; do
      get "$base/api/items" 203.0.113.7
      get "$base/admin/probe-$j.php" 198.51.100.23
      j=$((j + 1))
    done
  fi
  sleep "$interval"
done
