#!/usr/bin/env bash
# Side-by-side benchmarks of RingCore and Kestrel's Sockets transport, written to docs/benchmarks.md.
#   bash samples/run-benchmarks.sh                       # every scenario, 3 rounds, 10 s per run
#   bash samples/run-benchmarks.sh --rounds 1 --duration 3 --warmup 1 --scenarios plaintext64,download
#   bash samples/run-benchmarks.sh --scenarios sleep1ms,blocking-neighbours,mixed-blocking   # the blocking workloads
#   bash samples/run-benchmarks.sh --batch-wait-grid 0,100,250,500,1000   # CompletionBatchWait grid → docs/batching-grid.md
#   bash samples/run-benchmarks.sh --help                # every option
# Refuses to start on a busy machine (load average above 0.5, or other processes using the CPU).
# Needs the .NET 10 SDK, wrk, h2load (apt-get install wrk nghttp2-client) and (for the syscall cross-check) strace;
# bombardier is used when it is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in dotnet wrk; do
    if ! command -v "$tool" > /dev/null; then
        echo "$tool is not on PATH (wrk: apt-get install wrk)." >&2
        exit 2
    fi
done

dotnet build -c Release samples/RingCore.SampleApp -nologo -v quiet
dotnet build -c Release samples/RingCore.ProxySample -nologo -v quiet
dotnet build -c Release samples/RingCore.BenchmarkRunner -nologo -v quiet

invoked_as="bash samples/run-benchmarks.sh"
for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
        invoked_as+=" $arg"
    else
        invoked_as+=" $(printf '%q' "$arg")"
    fi
done
export RINGCORE_BENCH_INVOKED_AS="$invoked_as"
exec dotnet samples/RingCore.BenchmarkRunner/bin/Release/net10.0/RingCore.BenchmarkRunner.dll "$@"
