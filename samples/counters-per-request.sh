#!/usr/bin/env bash
# Runs the Release sample app RUNS times under wrk and prints, per run, the rate and what each request cost the server:
# io_uring enters, submissions, completions, wake-ups and syscalls (the transport's /_stats counters) and context
# switches of all its threads (/proc). For "why is this run faster than that one" on one transport; not a benchmark
# (no alternation, no quiet-machine gate: use run-benchmarks.sh for comparisons).
#   bash samples/counters-per-request.sh [transport] [runs] [connections] [pipeline depth] [path]
#   bash samples/counters-per-request.sh ringcore 5 64 16 /plaintext
set -euo pipefail
cd "$(dirname "$0")/.."
transport=${1:-ringcore}; runs=${2:-5}; conns=${3:-64}; depth=${4:-1}; path=${5:-/plaintext}
port=5078; url="http://127.0.0.1:$port$path"
. samples/sample-under-wrk.sh
switches() { cat /proc/"$1"/task/*/status 2> /dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
for run in $(seq 1 "$runs"); do
  dotnet "$dll" --urls "http://127.0.0.1:$port" --transport "$transport" > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$url" > /dev/null && break; sleep 0.1; done
  load 10s > /dev/null # warm-up: lets tiered JIT settle
  before=$(curl -s "http://127.0.0.1:$port/_stats"); cs_before=$(switches "$server")
  rps=$(load 4s | awk '/Requests\/sec/ {print $2}')
  cs_after=$(switches "$server"); after=$(curl -s "http://127.0.0.1:$port/_stats")
  kill "$server"; wait "$server" 2> /dev/null || true
  python3 - "$before" "$after" "$rps" "$cs_before" "$cs_after" "$run" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rps, requests = float(sys.argv[3]), float(sys.argv[3]) * 4
per = lambda k: f"{(b[k] - a[k]) / requests:.3f}" if k in a and k in b else "n/a"
print(f"run {sys.argv[6]}: {rps:,.0f} req/s; per request: enters {per('ringcore.io_uring.enters')}, "
      f"submissions {per('ringcore.io_uring.submissions')}, completions {per('ringcore.io_uring.completions')}, "
      f"wake-ups {per('ringcore.ring.wakeups')}, transport syscalls {per('syscalls')}, "
      f"context switches {(int(sys.argv[5]) - int(sys.argv[4])) / requests:.3f}")
PY
done
