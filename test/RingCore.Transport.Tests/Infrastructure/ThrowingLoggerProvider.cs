using Microsoft.Extensions.Logging;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// A logging provider that throws when the transport logs one given event: the real-world way an exception gets
/// into a completion handler (seen: a provider that threw while formatting the Debug "FIN received" event).
/// </summary>
public sealed class ThrowingLoggerProvider(int eventId) : ILoggerProvider
{
    private int _thrown;

    /// <summary>How many times it threw.</summary>
    public int Thrown => Volatile.Read(ref _thrown);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ThrowingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == owner._eventIdToThrowOn && category.StartsWith("RingCore", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref owner._thrown);
                throw new InvalidOperationException($"The logging provider failed on event {eventId.Id} (injected by the test).");
            }
        }
    }

    private readonly int _eventIdToThrowOn = eventId;
}
