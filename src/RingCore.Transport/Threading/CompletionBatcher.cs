namespace RingCore.Transport.Threading;

/// <summary>
/// Decides how many completions the ring loop waits for in its next io_uring_enter. Under load, waiting for a
/// batch (bounded by a short timeout) lets one enter carry many requests instead of one or two; when load is
/// light the loop waits for a single completion with no timeout, so a lone request never waits for company.
/// </summary>
/// <remarks>
/// The batcher counts arrivals: completions an enter reaped beyond the ones its own submissions produced (a send
/// on loopback completes while it is submitted, so its CQE is no sign of load). When one enter found several
/// arrivals (at least <see cref="MinArrivals"/>), the next waits for as many (plus its own submissions), bounded
/// by the timeout. A wait cut short by the timeout measured the arrival rate: what came within it is the next
/// target, and if that is below the minimum, batching pauses for a number of loop turns that doubles with every
/// such miss in a row, so a light or bursty load pays the timeout rarely.
///
/// A batch never waits for more arrivals than the ring has open connections (<see cref="ConnectionsPerArrival"/>):
/// keep-alive clients send their next request only after the response to the last one, so a wait for more than
/// that could only end by its timeout.
/// </remarks>
internal sealed class CompletionBatcher
{
    /// <summary>Fewer arrivals per wait than this is light load: no batching.</summary>
    public const uint MinArrivals = 4;

    /// <summary>Never wait for more arrivals than this in one enter (keeps the CQ far from full).</summary>
    public const uint MaxArrivals = 256;

    /// <summary>Open connections per arrival a batch may wait for: at most one arrival per open connection.</summary>
    public const int ConnectionsPerArrival = 1;

    private const int MaxCooldown = 1024;

    private readonly uint _maxArrivals;
    private uint _arrivals = 1;
    private int _cooldown;          // loop turns left without batching
    private int _nextCooldown = 1;  // turns to pause after the next miss

    public CompletionBatcher(long waitNanoseconds)
    {
        WaitNanoseconds = waitNanoseconds;
        _maxArrivals = waitNanoseconds > 0 ? MaxArrivals : 1;
    }

    /// <summary>How long a batched wait may last; 0 when batching is off.</summary>
    public long WaitNanoseconds { get; }

    /// <summary>Whether the arrival rate calls for a bounded batch wait (before the connection limit).</summary>
    public bool IsBatching => _arrivals >= MinArrivals && _cooldown == 0;

    /// <summary>
    /// Completions the next wait should gather as a bounded batch, given how many SQEs this enter submits that
    /// complete at once and how many connections the ring has open; 0 when it should not batch.
    /// </summary>
    public uint BatchTarget(uint toSubmit, long openConnections)
    {
        if (!IsBatching)
        {
            return 0;
        }
        uint arrivals = (uint)Math.Min(_arrivals, Math.Max(0, openConnections / ConnectionsPerArrival));
        return arrivals >= MinArrivals ? toSubmit + arrivals : 0;
    }

    /// <summary>Feeds back what a wait produced: the CQEs reaped after it, and what it submitted and waited for.</summary>
    public void OnWaited(uint waitedFor, uint submitted, int reaped, bool batched)
    {
        if (_cooldown > 0)
        {
            _cooldown--;
        }
        uint arrivals = (uint)Math.Clamp(reaped - (long)submitted, 1, _maxArrivals);
        if (batched && reaped < waitedFor)
        {
            // Timed out: what arrived within the timeout is the rate to expect. Below the minimum, stop batching
            // for a while.
            if (arrivals < MinArrivals)
            {
                _cooldown = _nextCooldown;
                _nextCooldown = Math.Min(_nextCooldown * 2, MaxCooldown);
            }
        }
        else if (batched)
        {
            _nextCooldown = Math.Max(1, _nextCooldown / 2);
        }
        _arrivals = arrivals;
    }
}
