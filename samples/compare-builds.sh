#!/usr/bin/env bash
# Side by side: the sample app of another commit (e.g. the last release) against this tree's, each with the
# transports named, all running at once and measured in short alternating rounds (samples/paired-rounds.py: why).
# For "is the new default at least as fast as the old one".
#   bash samples/compare-builds.sh OLD_COMMIT [rounds] [seconds] [connections] [path]
#   bash samples/compare-builds.sh b3b920c 30 3 64 /plaintext
# Prints one line per run, then medians, per-round ratios to the old default and CPU per request.
# Refuses to start on a busy machine (load average above 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old commit}; rounds=${2:-30}; seconds=${3:-3}; conns=${4:-64}; path=${5:-/plaintext}
load=$(cut -d' ' -f1 /proc/loadavg)
if awk "BEGIN{exit !($load > 0.5)}"; then echo "load average $load > 0.5: not a quiet machine" >&2; exit 2; fi

work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/old" "$old" > /dev/null
dotnet build -c Release "$work/old/samples/RingCore.SampleApp" -nologo -v quiet -o "$work/old-bin" > /dev/null
dotnet build -c Release samples/RingCore.SampleApp -nologo -v quiet -o "$work/new-bin" > /dev/null
# The builds leave the load average high for a minute or two; wait for it (5 minutes at most).
for _ in $(seq 1 60); do awk '{exit !($1 > 0.5)}' /proc/loadavg || break; sleep 5; done
load=$(cut -d' ' -f1 /proc/loadavg)
if awk "BEGIN{exit !($load > 0.5)}"; then echo "load average $load > 0.5 after the builds: not a quiet machine" >&2; exit 2; fi

python3 samples/paired-rounds.py --rounds "$rounds" --seconds "$seconds" --connections "$conns" --path "$path" \
  "old-default=$work/old-bin/RingCore.SampleApp.dll:ringcore" \
  "new-default=$work/new-bin/RingCore.SampleApp.dll:ringcore" \
  "new-threadpool=$work/new-bin/RingCore.SampleApp.dll:ringcore-threadpool" \
  "new-inline=$work/new-bin/RingCore.SampleApp.dll:ringcore-inline" \
  "sockets=$work/new-bin/RingCore.SampleApp.dll:sockets"
