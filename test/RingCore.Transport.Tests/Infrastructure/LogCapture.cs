using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>Keeps every log entry of a host so tests can check what was logged, and at which level.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this);

    public void Dispose()
    {
    }

    /// <summary>Entries at <paramref name="level"/> or above, from the transport or Kestrel's connection handling.</summary>
    public IReadOnlyList<LogEntry> AtOrAbove(LogLevel level) =>
        Entries.Where(e => e.Level >= level && (e.Category.StartsWith("RingCore", StringComparison.Ordinal) || e.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal))).ToList();

    /// <summary>Completes with the first entry (logged before or after the call) that matches <paramref name="match"/>.</summary>
    public async Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<LogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(LogEntry entry)
        {
            if (match(entry))
            {
                found.TrySetResult(entry);
            }
        }
        Logged += Check;
        try
        {
            foreach (LogEntry entry in Entries)
            {
                Check(entry);
            }
            return await found.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No matching log entry within {timeout}. Logged:{Environment.NewLine}{Dump()}");
        }
        finally
        {
            Logged -= Check;
        }
    }

    private event Action<LogEntry>? Logged;

    private void Add(LogEntry entry)
    {
        Entries.Enqueue(entry);
        Logged?.Invoke(entry);
    }

    public string Dump() => string.Join(Environment.NewLine, Entries.Select(e => e.ToString()));

    public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}[{EventId.Id}] {Message} {Exception?.GetType().Name}: {Exception?.Message}";
    }

    private sealed class Logger(string category, LogCapture owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
