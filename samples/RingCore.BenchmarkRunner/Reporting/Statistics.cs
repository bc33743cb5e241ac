namespace RingCore.BenchmarkRunner.Reporting;

public static class Statistics
{
    /// <summary>The median of the values that are present (the mean of the middle two for an even count); null when none are.</summary>
    public static double? Median(IEnumerable<double?> values)
    {
        var sorted = values.Where(v => v.HasValue && double.IsFinite(v.Value)).Select(v => v!.Value).Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>value / baseline when both are present and the baseline is positive.</summary>
    public static double? Ratio(double? value, double? baseline) =>
        value is double v && baseline is double b && b > 0 ? v / b : null;
}
