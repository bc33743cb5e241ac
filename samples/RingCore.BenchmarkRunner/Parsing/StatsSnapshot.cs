using System.Text.Json;

namespace RingCore.BenchmarkRunner.Parsing;

/// <summary>
/// The sample app's GET /_stats answer, e.g. {"transport":"ringcore","syscalls":123,"ioUringEnters":100,...}.
/// Every numeric property is kept as a counter; all of them are optional.
/// </summary>
public sealed record StatsSnapshot(string? Transport, IReadOnlyDictionary<string, long> Counters)
{
    public const string Syscalls = "syscalls";

    public static StatsSnapshot Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("/_stats did not answer a JSON object.");
        }
        string? transport = null;
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.NameEquals("transport") && property.Value.ValueKind == JsonValueKind.String)
            {
                transport = property.Value.GetString();
            }
            else if (property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetInt64(out long value))
            {
                counters[property.Name] = value;
            }
        }
        return new StatsSnapshot(transport, counters);
    }

    /// <summary>after − before for a counter both have, else null.</summary>
    public static long? Delta(StatsSnapshot? before, StatsSnapshot? after, string counter) =>
        before is not null && after is not null
        && before.Counters.TryGetValue(counter, out long b) && after.Counters.TryGetValue(counter, out long a)
            ? a - b
            : null;
}
