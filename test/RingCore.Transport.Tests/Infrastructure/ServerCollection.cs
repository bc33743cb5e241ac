namespace RingCore.Transport.Tests.Infrastructure;

/// <summary>
/// End-to-end tests run one at a time and alone, so that fd, thread and connection counts taken around a test
/// see only that test's server and clients.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ServerCollection
{
    public const string Name = "Server";
}
