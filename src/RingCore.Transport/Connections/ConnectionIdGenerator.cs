namespace RingCore.Transport.Connections;

/// <summary>Short, unique, cheap connection ids: a process-wide counter in 13 base-32 characters.</summary>
internal static class ConnectionIdGenerator
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    private static long _last = DateTime.UtcNow.Ticks;

    public static string Next() => string.Create(13, Interlocked.Increment(ref _last), static (span, id) =>
    {
        for (int i = 12; i >= 0; i--)
        {
            span[i] = Alphabet[(int)(id & 31)];
            id >>= 5;
        }
    });
}
