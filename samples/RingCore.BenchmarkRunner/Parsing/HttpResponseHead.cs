using System.Globalization;
using System.Text;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>
/// The status line and the headers of one HTTP/1.1 answer, as far as the runner's own client needs them: the status,
/// the body's Content-Length and whether the connection stays open. Pure: bytes in, fields out.
/// </summary>
public sealed record HttpResponseHead(int Status, long? ContentLength, bool Chunked, bool KeepAlive)
{
    /// <summary>Where the head ends in <paramref name="buffer"/> (the index after its blank line), or -1 while incomplete.</summary>
    public static int FindEnd(ReadOnlySpan<byte> buffer)
    {
        int i = buffer.IndexOf("\r\n\r\n"u8);
        return i < 0 ? -1 : i + 4;
    }

    /// <summary>Parses a head up to and including its blank line; throws <see cref="FormatException"/> when it is not one.</summary>
    public static HttpResponseHead Parse(ReadOnlySpan<byte> head)
    {
        string text = Encoding.ASCII.GetString(head);
        string[] lines = text.Split("\r\n");
        string status = lines[0];
        // "HTTP/1.1 200 OK": the reason phrase may be empty or missing.
        if (!status.StartsWith("HTTP/1.", StringComparison.Ordinal) || status.Length < 12 || status[8] != ' '
            || !int.TryParse(status.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out int code))
        {
            throw new FormatException($"not an HTTP/1.x status line: '{status}'");
        }
        bool keepAlive = status.StartsWith("HTTP/1.1", StringComparison.Ordinal);
        long? contentLength = null;
        bool chunked = false;
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long length))
                {
                    throw new FormatException($"bad Content-Length '{value}'");
                }
                contentLength = length;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                keepAlive = value.Contains("keep-alive", StringComparison.OrdinalIgnoreCase)
                    || (keepAlive && !value.Contains("close", StringComparison.OrdinalIgnoreCase));
            }
        }
        return new HttpResponseHead(code, contentLength, chunked, keepAlive);
    }
}
