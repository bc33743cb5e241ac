namespace RingCore.BenchmarkRunner.Execution;

/// <summary>The wrk Lua scripts, written to a temporary folder for the session.</summary>
internal static class LuaScripts
{
    public const string PipelineFileName = "pipeline.lua";
    public const string UploadFileName = "upload.lua";

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

    public static string Upload(string bodyPath) => $$"""
        -- wrk -s upload.lua URL: POST the same body (read once from a file) on every request.
        local f = assert(io.open("{{bodyPath.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}}", "rb"))
        wrk.method = "POST"
        wrk.body = f:read("*a")
        f:close()
        wrk.headers["Content-Type"] = "application/octet-stream"
        """;
}
