using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// Reads the RingCore.Transport instruments of one host, the way an exporter scoped to that host would: a
/// MeterListener that takes only meters made by the host's IMeterFactory (Meter.Scope). Observable values are
/// summed over the per-ring measurements; ringcore.network.io is split as "ringcore.network.io/receive" and
/// "/transmit". Start it after the host, whose transport creates its instruments at startup.
/// </summary>
public sealed class HostMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _sums = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(int Value, object? Ring)> _completionsPerEnter = new();
    private readonly ConcurrentDictionary<object, byte> _ringIndexes = new();

    /// <summary>Instruments of the host that owns <paramref name="services"/>, or of every host when it is null.</summary>
    public HostMetrics(IServiceProvider? services)
    {
        object? scope = services?.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RingCoreMetrics.MeterName && (scope is null || ReferenceEquals(instrument.Meter.Scope, scope)))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (var tag in tags)
            {
                if (tag.Key == "network.io.direction")
                {
                    key += "/" + tag.Value;
                }
                else if (tag.Key == "ringcore.ring.index" && tag.Value is not null)
                {
                    _ringIndexes.TryAdd(tag.Value, 0);
                }
            }
            lock (_lock)
            {
                _sums[key] = _sums.GetValueOrDefault(key) + value;
            }
        });
        _listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            object? ring = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "ringcore.ring.index")
                {
                    ring = tag.Value;
                }
            }
            _completionsPerEnter.Enqueue((value, ring));
        });
        _listener.Start();
    }

    /// <summary>Histogram values recorded since the listener started, with their ring tag.</summary>
    public IReadOnlyCollection<(int Value, object? Ring)> CompletionsPerEnter => _completionsPerEnter;

    /// <summary>Every ringcore.ring.index tag value seen.</summary>
    public object[] RingIndexes => _ringIndexes.Keys.ToArray();

    /// <summary>Observes every instrument now and returns the totals by name.</summary>
    public IReadOnlyDictionary<string, long> Read()
    {
        lock (_lock)
        {
            _sums.Clear();
        }
        _listener.RecordObservableInstruments();
        lock (_lock)
        {
            return new Dictionary<string, long>(_sums, StringComparer.Ordinal);
        }
    }

    public void Dispose() => _listener.Dispose();
}
