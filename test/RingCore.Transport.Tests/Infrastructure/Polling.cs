namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// Waiting for a state that offers no event to await (the OS's thread list, another process's fd table, a count
/// the ring threads change): look every few milliseconds until the condition holds, and fail with a message
/// once the deadline has passed.
/// </summary>
public static class Polling
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> failure, int intervalMilliseconds = 5)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(failure());
            }
            await Task.Delay(intervalMilliseconds);
        }
    }
}
