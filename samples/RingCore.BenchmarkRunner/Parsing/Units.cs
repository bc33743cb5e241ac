using System.Globalization;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>
/// Numbers with the unit suffixes wrk and bombardier print: times (us, µs, ms, s, m, h), SI counts (k, M, G)
/// and binary byte sizes (B, KB, MB, GB, TB; both tools scale these by 1024).
/// </summary>
public static class Units
{
    /// <summary>"2.59ms" → 2590 µs; "250.00us" → 250; "3.62s" → 3,620,000.</summary>
    public static double ParseDurationMicroseconds(string text)
    {
        string s = text.Trim();
        (string suffix, double scale)[] units =
        [
            ("us", 1), ("µs", 1), ("ns", 0.001), ("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000),
        ];
        foreach (var (suffix, scale) in units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal) && TryNumber(s[..^suffix.Length], out double value))
            {
                return value * scale;
            }
        }
        throw new FormatException($"Not a duration: '{text}'.");
    }

    /// <summary>"21.85k" → 21850; "1.2M" → 1,200,000; "510.84" → 510.84.</summary>
    public static double ParseSiCount(string text)
    {
        string s = text.Trim();
        double scale = 1;
        if (s.EndsWith('k') || s.EndsWith('K'))
        {
            scale = 1e3;
        }
        else if (s.EndsWith('M'))
        {
            scale = 1e6;
        }
        else if (s.EndsWith('G'))
        {
            scale = 1e9;
        }
        string number = scale == 1 ? s : s[..^1];
        return TryNumber(number, out double value) ? value * scale : throw new FormatException($"Not a count: '{text}'.");
    }

    /// <summary>"5.47MB" → 5.47 × 1024²; "129.96KB" → 129.96 × 1024; "1.00GB" → 1024³; "512B" → 512. A "/s" suffix is ignored.</summary>
    public static double ParseBinaryBytes(string text)
    {
        string s = text.Trim();
        if (s.EndsWith("/s", StringComparison.Ordinal))
        {
            s = s[..^2];
        }
        (string suffix, double scale)[] units =
        [
            ("TiB", 1099511627776.0), ("GiB", 1073741824.0), ("MiB", 1048576.0), ("KiB", 1024.0),
            ("TB", 1099511627776.0), ("GB", 1073741824.0), ("MB", 1048576.0), ("KB", 1024.0), ("kB", 1024.0), ("B", 1.0),
        ];
        foreach (var (suffix, scale) in units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal) && TryNumber(s[..^suffix.Length], out double value))
            {
                return value * scale;
            }
        }
        throw new FormatException($"Not a byte size: '{text}'.");
    }

    public static double ParseNumber(string text) =>
        TryNumber(text.Trim(), out double value) ? value : throw new FormatException($"Not a number: '{text}'.");

    private static bool TryNumber(string s, out double value) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
}
