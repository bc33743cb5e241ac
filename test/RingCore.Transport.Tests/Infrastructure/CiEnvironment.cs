namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>Whether this run is CI's (CI=true): there, a test that cannot run must fail, not skip.</summary>
internal static class CiEnvironment
{
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}
