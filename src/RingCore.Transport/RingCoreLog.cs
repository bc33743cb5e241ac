using Microsoft.Extensions.Logging;

namespace RingCore.Transport;

/// <summary>
/// Every message the transport logs, with stable event ids. Category: "RingCore.Transport". The connection events
/// (3–7, 15, 16) carry the event names of Kestrel's Sockets transport (ConnectionReadFin, ConnectionWriteFin,
/// ConnectionWriteRst, ConnectionReset, ConnectionError, ConnectionPause, ConnectionResume), so tools and tests that
/// match Sockets' events by name see the same events here. All are Debug; the generated methods check IsEnabled
/// first, so they cost a call and a check when Debug is off.
/// </summary>
internal sealed partial class RingCoreLog
{
    public const string Category = "RingCore.Transport";

    private readonly ILogger _logger;

    public RingCoreLog(ILogger logger) => _logger = logger;

    public ILogger Logger => _logger;

    /// <summary>Once per ring set, when its rings have started (the first listener or outbound connection).</summary>
    [LoggerMessage(1, LogLevel.Information, "RingCore started {RingCount} io_uring ring(s), each on a thread of its own ({Rings}); kernel {Kernel}; {RingDescription}.")]
    public partial void RingsStarted(int ringCount, string rings, string kernel, string ringDescription);

    /// <summary>Per listener: the endpoint the transport bound (Kestrel may have asked for another) and its rings.</summary>
    [LoggerMessage(18, LogLevel.Information, "RingCore listening on {EndPoint} on {Rings}.")]
    public partial void Listening(string endPoint, string rings);

    [LoggerMessage(2, LogLevel.Warning, "io_uring is unavailable, so RingCore falls back to Kestrel's Sockets transport. Reason: {Reason} To fail startup instead, set RingCoreTransportOptions.WhenUnavailable = Throw.")]
    public partial void FallingBackToSockets(string reason);

    [LoggerMessage(3, LogLevel.Debug, "Connection {ConnectionId}: the client closed its side (FIN).", EventName = "ConnectionReadFin")]
    public partial void ConnectionReadFin(string connectionId);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId} was reset by the client: {Reason}", EventName = "ConnectionReset")]
    public partial void ConnectionReset(string connectionId, string reason);

    [LoggerMessage(5, LogLevel.Debug, "Connection {ConnectionId} sending FIN: {Reason}", EventName = "ConnectionWriteFin")]
    public partial void ConnectionWriteFin(string connectionId, string reason);

    /// <summary>An abort with a reason, or a send error, resets the connection (unless FinOnError is on).</summary>
    [LoggerMessage(6, LogLevel.Debug, "Connection {ConnectionId} sending RST: {Reason}", EventName = "ConnectionWriteRst")]
    public partial void ConnectionWriteRst(string connectionId, string reason);

    [LoggerMessage(7, LogLevel.Debug, "Connection {ConnectionId} failed: {Reason}", EventName = "ConnectionError")]
    public partial void ConnectionError(string connectionId, string reason);

    [LoggerMessage(8, LogLevel.Warning, "Accepting on {EndPoint} is paused for {DelayMs} ms: {Reason}. Existing connections keep being served.")]
    public partial void AcceptPaused(string endPoint, int delayMs, string reason);

    [LoggerMessage(9, LogLevel.Error, "Accepting on {EndPoint} stopped: {Reason}")]
    public partial void AcceptFailed(string endPoint, string reason);

    [LoggerMessage(10, LogLevel.Warning, "Ring thread {Index} did not stop within {Seconds} s ({Count} operation owner(s) still open, e.g. held by application code; first ones: {Owners}); it finishes in the background and its memory stays pinned until then.")]
    public partial void RingStopTimedOut(int index, int count, int seconds, string owners);

    [LoggerMessage(11, LogLevel.Warning, "Ring thread {Index} has been running application code for {Milliseconds} ms without returning to its ring: the {Owners} connection(s) and listener(s) on it are stalled. Request handlers run on the ring thread because ApplicationScheduling = UnsafeInline; they block (synchronous waits on tasks, Thread.Sleep, long CPU work), so remove that setting to use the default, ThreadPool.")]
    public partial void RingThreadStalled(int index, long milliseconds, int owners);

    [LoggerMessage(12, LogLevel.Information, "Kestrel's AllowSynchronousIO is on, so RingCore runs application code on the thread pool (ApplicationScheduling = ThreadPool): a synchronous read or write on a ring thread would wait for that same thread.")]
    public partial void SynchronousIoUsesThreadPool();

    [LoggerMessage(17, LogLevel.Warning, "RingCoreTransportOptions.ApplicationScheduling = Inline is obsolete and behaves as ThreadPool, the default: request handlers run on the .NET thread pool. Remove the setting, or set UnsafeInline for an application that never blocks.")]
    public partial void InlineSchedulingIsThreadPool();

    [LoggerMessage(13, LogLevel.Error, "Connection {ConnectionId} failed inside the RingCore transport and was aborted; the other connections of its ring are not affected.")]
    public partial void ConnectionFaulted(string connectionId, Exception exception);

    [LoggerMessage(14, LogLevel.Warning, "Ring thread {Index} has spent {Milliseconds} ms in the transport's own work (completion handlers, posted work, logging) without returning to its ring: the {Owners} connection(s) and listener(s) on it are stalled. This is not application code; a blocking logging provider or a transport bug are the usual causes.")]
    public partial void RingThreadStalledInTransport(int index, long milliseconds, int owners);

    /// <summary>The application is behind: the input pipe is full, so the transport stops receiving for this connection.</summary>
    [LoggerMessage(15, LogLevel.Debug, "Connection {ConnectionId} paused receiving: the application has not read what was received.", EventName = "ConnectionPause")]
    public partial void ConnectionPause(string connectionId);

    /// <summary>The application read enough of the input pipe for the paused flush to complete.</summary>
    [LoggerMessage(16, LogLevel.Debug, "Connection {ConnectionId} resumed receiving.", EventName = "ConnectionResume")]
    public partial void ConnectionResume(string connectionId);
}
