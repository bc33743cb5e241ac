using System.Diagnostics.Metrics;
using RingCore.Transport.Threading;
using static RingCore.Transport.RingCoreMetrics;

namespace RingCore.Transport;

/// <summary>
/// The instruments of one transport factory (one host), named in <see cref="RingCoreMetrics"/>. The meter comes from
/// the host's <see cref="IMeterFactory"/> when it has one, as ASP.NET Core's own meters do, so listeners and
/// exporters can scope it to the host; otherwise the factory owns a meter of its own and disposes it with itself, so a
/// stopped host's instruments go away instead of lingering with frozen values. The observable instruments read only
/// the ring threads this factory started, per ring, adding the totals of threads that have stopped.
/// </summary>
internal sealed class TransportMetrics : IDisposable
{
    private static readonly KeyValuePair<string, object?> Receive = new(Names.DirectionTag, "receive");
    private static readonly KeyValuePair<string, object?> Transmit = new(Names.DirectionTag, "transmit");

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Lock _lock = new();
    private readonly List<RingThread> _live = [];
    private RingSample[] _retired = [];                          // by ring index: totals of stopped threads
    private KeyValuePair<string, object?>[] _ringTags = [];      // by ring index: boxed once, so recording allocates nothing
    private long _fallbacks;

    private TransportMetrics(Meter meter, bool ownsMeter)
    {
        _meter = meter;
        _ownsMeter = ownsMeter;
        CompletionsPerEnter = meter.CreateHistogram(Names.CompletionsPerEnter, "{cqe}", "Completions reaped after each io_uring_enter.",
            tags: null, advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096] });

        ObservePerRing(Names.OpenedConnections, "{connection}", "Connections accepted.", s => s.ConnectionsOpened);
        ObservePerRing(Names.ClosedConnections, "{connection}", "Connections closed.", s => s.ConnectionsClosed);
        meter.CreateObservableUpDownCounter(Names.ActiveConnections, () => PerRing(s => s.ConnectionsOpened - s.ConnectionsClosed),
            "{connection}", "Connections open now.");
        meter.CreateObservableCounter(Names.NetworkIo, NetworkIo, "By", "Bytes received from and sent to clients.");
        ObservePerRing(Names.Enters, "{call}", "io_uring_enter system calls.", s => s.Enters);
        ObservePerRing(Names.Submissions, "{sqe}", "Submission queue entries consumed by the kernel.", s => s.Submitted);
        ObservePerRing(Names.Completions, "{cqe}", "Completion queue entries reaped.", s => s.Completed);
        ObservePerRing(Names.CqOverflows, "{overflow}", "Times the kernel parked completions in its overflow list.", s => s.CqOverflows);
        ObservePerRing(Names.BufferRingExhausted, "{receive}", "Receives that found the provided-buffer ring empty (ENOBUFS).", s => s.BufferRingExhausted);
        ObservePerRing(Names.AcceptPauses, "{pause}", "Accept pauses for lack of file descriptors or memory.", s => s.AcceptPauses);
        ObservePerRing(Names.Wakeups, "{wakeup}", "eventfd writes that woke a sleeping ring thread.", s => s.Wakeups);
        ObservePerRing(Names.Syscalls, "{syscall}", "System calls on the transport's hot paths: io_uring_enter, wake-ups and per-connection calls.", s => s.Syscalls);
        meter.CreateObservableCounter(Names.Fallbacks, () => Volatile.Read(ref _fallbacks), "{fallback}",
            "Times io_uring was unavailable and Kestrel's Sockets transport was used.");
    }

    /// <summary>Recorded by the ring threads after each io_uring_enter, when someone listens.</summary>
    public Histogram<int> CompletionsPerEnter { get; }

    /// <summary>Instruments on a meter of <paramref name="meterFactory"/>, or on a meter of their own without one.</summary>
    public static TransportMetrics Create(IMeterFactory? meterFactory) => meterFactory is null
        ? new TransportMetrics(new Meter(MeterName), ownsMeter: true)
        : new TransportMetrics(meterFactory.Create(new MeterOptions(MeterName)), ownsMeter: false);

    /// <summary>A ring thread of this factory started (called on it once its ring exists).</summary>
    public void Track(RingThread thread)
    {
        lock (_lock)
        {
            EnsureIndex(thread.Index);
            _live.Add(thread);
        }
    }

    /// <summary>A ring thread is stopping (called on it before its ring is torn down): keep its totals.</summary>
    public void Retire(RingThread thread)
    {
        lock (_lock)
        {
            if (_live.Remove(thread))
            {
                _retired[thread.Index] += RingSample.Of(thread);
            }
        }
    }

    public void OnFallback() => Interlocked.Increment(ref _fallbacks);

    /// <summary>Records one enter's completions with its ring's tag (ring thread; the caller checks Enabled).</summary>
    public void RecordCompletionsPerEnter(int completions, int ringIndex)
    {
        KeyValuePair<string, object?>[] tags = Volatile.Read(ref _ringTags);
        if ((uint)ringIndex < (uint)tags.Length)
        {
            CompletionsPerEnter.Record(completions, tags[ringIndex]);
        }
    }

    /// <summary>This factory's totals over every ring, stopped ones included (tests and diagnostics).</summary>
    public RingSample Total()
    {
        RingSample total = default;
        foreach (RingSample ring in SampleRings())
        {
            total += ring;
        }
        return total;
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private void ObservePerRing(string name, string unit, string description, Func<RingSample, long> field) =>
        _meter.CreateObservableCounter(name, () => PerRing(field), unit, description);

    private IEnumerable<Measurement<long>> PerRing(Func<RingSample, long> field)
    {
        RingSample[] rings = SampleRings();
        KeyValuePair<string, object?>[] tags = Volatile.Read(ref _ringTags);
        var measurements = new Measurement<long>[rings.Length];
        for (int i = 0; i < rings.Length; i++)
        {
            measurements[i] = new Measurement<long>(field(rings[i]), tags[i]);
        }
        return measurements;
    }

    private IEnumerable<Measurement<long>> NetworkIo()
    {
        RingSample[] rings = SampleRings();
        KeyValuePair<string, object?>[] tags = Volatile.Read(ref _ringTags);
        var measurements = new List<Measurement<long>>(rings.Length * 2);
        for (int i = 0; i < rings.Length; i++)
        {
            measurements.Add(new Measurement<long>(rings[i].BytesReceived, tags[i], Receive));
            measurements.Add(new Measurement<long>(rings[i].BytesSent, tags[i], Transmit));
        }
        return measurements;
    }

    /// <summary>Totals per ring index seen so far: stopped threads' totals plus the running thread's.</summary>
    private RingSample[] SampleRings()
    {
        lock (_lock)
        {
            var rings = (RingSample[])_retired.Clone();
            foreach (RingThread thread in _live)
            {
                rings[thread.Index] += RingSample.Of(thread);
            }
            return rings;
        }
    }

    private void EnsureIndex(int index)
    {
        if (index < _retired.Length)
        {
            return;
        }
        Array.Resize(ref _retired, index + 1);
        var tags = new KeyValuePair<string, object?>[index + 1];
        for (int i = 0; i < tags.Length; i++)
        {
            tags[i] = new KeyValuePair<string, object?>(Names.RingIndexTag, i);
        }
        Volatile.Write(ref _ringTags, tags);
    }
}
