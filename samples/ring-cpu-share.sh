#!/usr/bin/env bash
# Where the server's CPU time goes, by kind of thread: ring threads, thread-pool workers, the rest (JIT, GC,
# timers). Runs the Release sample app on RingCore with RINGS ring threads (or the default when "default") RUNS
# times under wrk and prints, per run, the rate and the CPU microseconds per request of each kind (/proc task
# times). How many cores one ring thread can serve follows from its share. Not a benchmark (no alternation, no
# quiet-machine gate: use run-benchmarks.sh for comparisons).
#   bash samples/ring-cpu-share.sh [rings|default] [runs] [connections] [pipeline depth] [path]
#   bash samples/ring-cpu-share.sh 1 3 64 1 /plaintext
set -euo pipefail
cd "$(dirname "$0")/.."
rings=${1:-default}; runs=${2:-3}; conns=${3:-64}; depth=${4:-1}; path=${5:-/plaintext}
port=5079; url="http://127.0.0.1:$port$path"
. samples/sample-under-wrk.sh
settings=(); [ "$rings" = default ] || settings=(--rings "$rings")
# utime + stime (clock ticks) of every thread, by kind: "ring pool other".
ticks() {
  for task in /proc/"$1"/task/*; do
    name=$(cat "$task/comm" 2> /dev/null) || continue
    # Fields after the ")" that ends the name: utime and stime are the 12th and 13th.
    t=$(sed 's/.*) //' "$task/stat" 2> /dev/null | awk '{print $12 + $13}') || continue
    case "$name" in
      "RingCore ring"*) echo "ring $t" ;;
      ".NET TP Worker"*) echo "pool $t" ;;
      *) echo "other $t" ;;
    esac
  done | awk '{s[$1] += $2} END {printf "%d %d %d\n", s["ring"], s["pool"], s["other"]}'
}
hz=$(getconf CLK_TCK)
for run in $(seq 1 "$runs"); do
  dotnet "$dll" --urls "http://127.0.0.1:$port" --transport ringcore "${settings[@]}" > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -sf "$url" > /dev/null && break; sleep 0.1; done
  load 10s > /dev/null # warm-up: lets tiered JIT settle
  # Threads that exited during the measured window take their time with them: the pool's workers outlive it.
  before=$(ticks "$server")
  rps=$(load 5s | awk '/Requests\/sec/ {print $2}')
  after=$(ticks "$server")
  kill "$server"; wait "$server" 2> /dev/null || true
  python3 - "$before" "$after" "$rps" "$hz" "$run" <<'PY'
import sys
b, a = [int(x) for x in sys.argv[1].split()], [int(x) for x in sys.argv[2].split()]
rps, hz, run = float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
requests = rps * 5
us = [(a[i] - b[i]) / hz * 1e6 / requests for i in range(3)]
total = sum(us)
print(f"run {run}: {rps:,.0f} req/s; CPU µs per request: ring threads {us[0]:.2f}, pool workers {us[1]:.2f}, "
      f"other {us[2]:.2f}, total {total:.2f}; ring share {us[0] / total:.0%}")
PY
done
