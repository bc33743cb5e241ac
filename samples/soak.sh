#!/usr/bin/env bash
# Long soak of the RingCore transport: runs the mixed-load soak test (kept-alive GETs, echoed POSTs, a new connection
# per request, raw clients that reset mid-request) for RINGCORE_SOAK_SECONDS (default 600 s = 10 minutes), then
# checks that fds, connections and the managed heap are back where they were.
#
#   samples/soak.sh                           # 10 minutes
#   RINGCORE_SOAK_SECONDS=3600 samples/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RINGCORE_SOAK_SECONDS="${RINGCORE_SOAK_SECONDS:-600}"
echo "RingCore soak: ${RINGCORE_SOAK_SECONDS} s"
exec dotnet test RingCore.Transport.sln \
  --filter "FullyQualifiedName=RingCore.Transport.Tests.Faults.VolumeTests.MixedLoadSoakLeavesNothingBehind" \
  --logger "console;verbosity=detailed"
