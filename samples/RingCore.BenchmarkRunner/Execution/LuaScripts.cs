namespace RingCore.BenchmarkRunner.Execution;

/// <summary>The wrk Lua scripts, written to a temporary folder for the session.</summary>
internal static class LuaScripts
{
    public const string PipelineFileName = "pipeline.lua";
    public const string UploadFileName = "upload.lua";
    public const string ChurnFileName = "churn.lua";

    // TechEmpower's pipelining script: request() returns `depth` copies of the GET, written back to back.
    public const string Pipeline = """
        -- wrk -s pipeline.lua URL -- DEPTH: write DEPTH requests back to back on each connection.
        init = function(args)
          local depth = tonumber(args[1]) or 16
          local r = {}
          for i = 1, depth do
            r[i] = wrk.format()
          end
          req = table.concat(r)
        end

        request = function()
          return req
        end
        """;

    // Connection churn: every EVERY-th request of a wrk thread asks the server to close; wrk then reconnects, so with
    // EVERY = 1 each request pays a TCP handshake, an accept and a close.
    public const string Churn = """
        -- wrk -s churn.lua URL -- EVERY: ask for `Connection: close` on every EVERY-th request (per wrk thread).
        local every, n = 1, 0
        init = function(args)
          every = tonumber(args[1]) or 1
        end

        request = function()
          n = n + 1
          if n % every == 0 then
            return wrk.format(nil, nil, { ["Connection"] = "close" })
          end
          return wrk.format()
        end
        """;

    public static string Upload(string bodyPath) => $$"""
        -- wrk -s upload.lua URL: POST the same body (read once from a file) on every request.
        local f = assert(io.open("{{bodyPath.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}}", "rb"))
        wrk.method = "POST"
        wrk.body = f:read("*a")
        f:close()
        wrk.headers["Content-Type"] = "application/octet-stream"
        """;
}
