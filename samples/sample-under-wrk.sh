# Sourced by the per-request diagnostics scripts (counters-per-request.sh, ring-cpu-share.sh): the Release sample
# app ($dll, built when missing), a scratch folder ($work, removed on exit) and load() driving it with wrk on
# $url, $conns connections and $depth requests written back to back per connection.
dll=samples/RingCore.SampleApp/bin/Release/net10.0/RingCore.SampleApp.dll
[ -f "$dll" ] || dotnet build -c Release samples/RingCore.SampleApp -nologo -v quiet > /dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
LUA
load() { wrk -t1 -c"$conns" -d"$1" -s "$work/pipeline.lua" "$url" -- "$depth"; }
