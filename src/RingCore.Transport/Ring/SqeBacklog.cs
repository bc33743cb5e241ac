using RingCore.Transport.Interop;

namespace RingCore.Transport.Ring;

/// <summary>
/// SQEs prepared while the submission queue was full, oldest first. They move into the SQ at the ring's next
/// enter, so preparing an operation never has to enter the kernel to make room (a completion handler that did
/// could feed the very batch it runs in). Ring thread only.
/// </summary>
internal sealed class SqeBacklog
{
    private IoUringSqe[] _entries = new IoUringSqe[16];
    private int _head;
    private int _count;

    public int Count => _count;

    /// <summary>A cleared entry at the end of the backlog; the reference is valid until the next call.</summary>
    public ref IoUringSqe Add()
    {
        if (_count == _entries.Length)
        {
            Grow();
        }
        ref IoUringSqe entry = ref _entries[(_head + _count) % _entries.Length];
        entry = default;
        _count++;
        return ref entry;
    }

    /// <summary>Removes and returns the oldest entry.</summary>
    public IoUringSqe Take()
    {
        IoUringSqe entry = _entries[_head];
        _head = (_head + 1) % _entries.Length;
        _count--;
        return entry;
    }

    /// <summary>Drops every entry.</summary>
    public void Clear()
    {
        _head = 0;
        _count = 0;
    }

    private void Grow()
    {
        var larger = new IoUringSqe[_entries.Length * 2];
        for (int i = 0; i < _count; i++)
        {
            larger[i] = _entries[(_head + i) % _entries.Length];
        }
        _entries = larger;
        _head = 0;
    }
}
