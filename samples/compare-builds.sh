#!/usr/bin/env bash
# Side by side: the sample app of another commit (e.g. the last release) against this tree's, each with the
# transports named, alternating rounds, wrk on loopback. For "is the new default at least as fast as the old one".
#   bash samples/compare-builds.sh OLD_COMMIT [rounds] [seconds] [connections] [path]
#   bash samples/compare-builds.sh b3b920c 3 5 64 /plaintext
# Prints one line per run and the medians. Refuses to start on a busy machine (load average above 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old commit}; rounds=${2:-3}; seconds=${3:-5}; conns=${4:-64}; path=${5:-/plaintext}
load=$(cut -d' ' -f1 /proc/loadavg)
if awk "BEGIN{exit !($load > 0.5)}"; then echo "load average $load > 0.5: not a quiet machine" >&2; exit 2; fi

work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/old" "$old" > /dev/null
dotnet build -c Release "$work/old/samples/RingCore.SampleApp" -nologo -v quiet -o "$work/old-bin" > /dev/null
dotnet build -c Release samples/RingCore.SampleApp -nologo -v quiet -o "$work/new-bin" > /dev/null

# name=dll:transport
runs=("old-default=$work/old-bin/RingCore.SampleApp.dll:ringcore"
      "new-default=$work/new-bin/RingCore.SampleApp.dll:ringcore"
      "new-threadpool=$work/new-bin/RingCore.SampleApp.dll:ringcore-threadpool"
      "new-inline=$work/new-bin/RingCore.SampleApp.dll:ringcore-inline"
      "sockets=$work/new-bin/RingCore.SampleApp.dll:sockets")
port=5077
for round in $(seq 1 "$rounds"); do
  for run in "${runs[@]}"; do
    name=${run%%=*}; rest=${run#*=}; dll=${rest%%:*}; transport=${rest##*:}
    dotnet "$dll" --urls "http://127.0.0.1:$port" --transport "$transport" > "$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port$path" > /dev/null && break; sleep 0.1; done
    wrk -t1 -c"$conns" -d10s "http://127.0.0.1:$port$path" > /dev/null # warm-up: lets tiered JIT settle
    out=$(wrk -t1 -c"$conns" -d"${seconds}s" --latency "http://127.0.0.1:$port$path")
    kill "$server"; wait "$server" 2> /dev/null || true
    rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out"); p99=$(awk '$1=="99%" {print $2}' <<< "$out")
    echo "$round $name $rps $p99" | tee -a "$work/results"
  done
done
echo "medians (req/s):"
for run in "${runs[@]}"; do
  name=${run%%=*}
  awk -v n="$name" '$2==n {print $3}' "$work/results" | sort -n | awk -v n="$name" '{a[NR]=$1} END {print n, a[int((NR+1)/2)], "(" a[1] " … " a[NR] ")"}'
done
