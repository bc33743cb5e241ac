using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using RingCore.Transport.Connections;
using RingCore.Transport.Threading;

namespace RingCore.Transport.Listening;

/// <summary>
/// A bound endpoint. TCP: one SO_REUSEPORT socket and one multishot accept per ring thread, and each ring
/// serves the connections it accepts. Unix sockets and file handles: one acceptor whose connections are handed
/// to the ring threads in turn. Accepted connections wait in a channel for Kestrel's AcceptAsync.
/// </summary>
internal sealed class RingConnectionListener : IConnectionListener
{
    private readonly RingThreadGroup _group;
    private readonly ConnectionSettings _settings;
    private readonly Channel<RingConnection> _accepted = Channel.CreateUnbounded<RingConnection>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly List<Acceptor> _acceptors = new();
    private readonly AcceptPauseReport _pauseReport = new();
    private AddressFamily _family;
    private AcceptedNoDelay _noDelay = new(wanted: false);
    private UnixDomainSocketEndPoint? _unixPathToRemove;
    private Task? _unbindTask;
    private int _disposed;

    private RingConnectionListener(EndPoint endPoint, RingThreadGroup group, ConnectionSettings settings)
    {
        EndPoint = endPoint;
        _group = group;
        _settings = settings;
    }

    public EndPoint EndPoint { get; private set; }

    /// <summary>Binds synchronously and starts accepting. The group must already be acquired.</summary>
    public static RingConnectionListener Bind(EndPoint endPoint, RingThreadGroup group, ConnectionSettings settings, int backlog)
    {
        var listener = new RingConnectionListener(endPoint, group, settings);
        listener.BindCore(backlog);
        return listener;
    }

    private void BindCore(int backlog)
    {
        IReadOnlyList<RingThread> rings = _group.Threads;
        switch (EndPoint)
        {
            case IPEndPoint ip:
                var (fds, bound) = ListenSockets.BindTcpGroup(ip, rings.Count, backlog, _settings.NoDelay);
                EndPoint = bound;
                _family = bound.AddressFamily;
                for (int i = 0; i < rings.Count; i++)
                {
                    RingThread ring = rings[i];
                    _acceptors.Add(new Acceptor(ring, fds[i], ownsListenFd: true, fd => OnAccepted(ring, fd), bound.ToString(), _settings.Log, _pauseReport));
                }
                break;

            case UnixDomainSocketEndPoint unix:
                int unixFd = ListenSockets.BindUnix(unix, backlog);
                _unixPathToRemove = unix;
                _family = AddressFamily.Unix;
                _acceptors.Add(new Acceptor(rings[0], unixFd, ownsListenFd: true, HandOff, unix.ToString(), _settings.Log, _pauseReport));
                break;

            case FileHandleEndPoint handle:
                var (handleFd, family, local) = ListenSockets.AdoptFileHandle(handle, backlog);
                EndPoint = local;
                _family = family;
                _acceptors.Add(new Acceptor(rings[0], handleFd, ownsListenFd: false, HandOff, $"file handle {handleFd}", _settings.Log, _pauseReport));
                break;

            default:
                throw new NotSupportedException($"RingCore cannot bind {EndPoint.GetType().Name} endpoints.");
        }
        _noDelay = new AcceptedNoDelay(_settings.NoDelay && (_family is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6));
        foreach (Acceptor acceptor in _acceptors)
        {
            acceptor.Start();
        }
    }

    // Ring thread of the acceptor: the connection lives on that ring.
    private void OnAccepted(RingThread ring, int fd)
    {
        if (!ring.IsAlive)
        {
            ListenSockets.CloseQuietly(fd); // handed off to a ring that failed meanwhile
            return;
        }
        RingConnection connection;
        try
        {
            bool setNoDelay = _noDelay.MustSet(fd, out int syscalls);
            ring.Counters.OtherSyscalls += syscalls;
            connection = new RingConnection(ring, fd, _family, _settings, setNoDelay);
        }
        catch (Exception ex)
        {
            ListenSockets.CloseQuietly(fd);
            _settings.Log.ConnectionError("(new)", ex.Message);
            return;
        }
        if (!_accepted.Writer.TryWrite(connection))
        {
            connection.Abort(new ConnectionAbortedException("The listener was unbound before the connection was accepted."));
        }
    }

    // Single acceptor: pass the fd to the next ring thread, which creates the connection there.
    private void HandOff(int fd)
    {
        RingThread target = _group.NextForHandOff();
        target.Post(static s =>
        {
            var (listener, ring, fd) = ((RingConnectionListener, RingThread, int))s!;
            listener.OnAccepted(ring, fd);
        }, (this, target, fd));
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (await _accepted.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_unbindTask is not null)
            {
                break;
            }
            if (_accepted.Reader.TryRead(out RingConnection? connection))
            {
                return connection;
            }
        }
        return null;
    }

    /// <summary>
    /// Stops accepting. The listening sockets are shut down on the calling thread, so no new connection reaches
    /// any ring after this returns, even a ring whose thread is busy. The wait for the rings to finish their
    /// accepts ends when <paramref name="cancellationToken"/> fires, without throwing: Kestrel's stop goes on.
    /// </summary>
    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        Task unbind;
        lock (_acceptors)
        {
            unbind = _unbindTask ??= UnbindCoreAsync();
        }
        // Kestrel waits for its accept loop before anything else: AcceptAsync returns null from now on, whether or
        // not the rings have finished their part (a connection accepted meanwhile is closed as an orphan).
        _accepted.Writer.TryComplete();
        await unbind.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task UnbindCoreAsync()
    {
        foreach (Acceptor acceptor in _acceptors)
        {
            acceptor.Stop();
        }
        await Task.WhenAll(_acceptors.Select(a => a.Stopped)).ConfigureAwait(false);
        _accepted.Writer.TryComplete();
        if (_unixPathToRemove is not null)
        {
            ListenSockets.UnlinkUnixPath(_unixPathToRemove);
        }
        // Connections accepted by the kernel that Kestrel never took: close them.
        while (_accepted.Reader.TryRead(out RingConnection? orphan))
        {
            orphan.Abort(new ConnectionAbortedException("The listener was unbound before the connection was accepted."));
            await orphan.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Kestrel has already waited for the unbind as long as its shutdown timeout allowed: start it if it was not,
        // but do not wait again. Stopping the rings finishes it, within the group's own bound.
        await UnbindAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        await _group.ReleaseAsync().ConfigureAwait(false);
    }
}
