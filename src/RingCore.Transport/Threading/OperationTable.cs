namespace RingCore.Transport.Threading;

/// <summary>
/// Slot table that maps the 64-bit user_data of an SQE back to its owner: [slot:32][generation:24][operation:8].
/// A slot's generation changes every time it is reused, so a late completion for an earlier owner of the same
/// slot does not match and is dropped. Slot 0 belongs to the ring thread itself. Ring thread only.
/// </summary>
internal sealed class OperationTable
{
    private const uint GenerationMask = 0xFFFFFF;
    private IRingOperationOwner?[] _owners = new IRingOperationOwner?[256];
    private uint[] _generations = new uint[256];
    private readonly Stack<int> _free = new();
    private int _nextUnused = 1;

    /// <summary>Number of registered owners.</summary>
    public int Count { get; private set; }

    /// <summary>Registers an owner and returns its token (user_data without the operation byte).</summary>
    public ulong Register(IRingOperationOwner owner)
    {
        if (!_free.TryPop(out int slot))
        {
            slot = _nextUnused++;
            if (slot == _owners.Length)
            {
                Array.Resize(ref _owners, _owners.Length * 2);
                Array.Resize(ref _generations, _generations.Length * 2);
            }
        }
        uint generation = (_generations[slot] + 1) & GenerationMask;
        _generations[slot] = generation;
        _owners[slot] = owner;
        Count++;
        return ((ulong)(uint)slot << 32) | ((ulong)generation << 8);
    }

    /// <summary>Frees the slot; completions still carrying the token will be dropped.</summary>
    public void Unregister(ulong token)
    {
        int slot = (int)(token >> 32);
        if (slot > 0 && slot < _owners.Length && _owners[slot] is not null && _generations[slot] == (uint)((token >> 8) & GenerationMask))
        {
            _owners[slot] = null;
            _free.Push(slot);
            Count--;
        }
    }

    public static ulong UserData(ulong token, byte operation) => token | operation;

    public static byte OperationOf(ulong userData) => (byte)userData;

    public static bool IsRingThreadOwn(ulong userData) => (userData >> 32) == 0;

    /// <summary>The live owner the user_data belongs to, or null when it is stale.</summary>
    public IRingOperationOwner? Find(ulong userData)
    {
        int slot = (int)(userData >> 32);
        if (slot <= 0 || slot >= _owners.Length)
        {
            return null;
        }
        return _generations[slot] == (uint)((userData >> 8) & GenerationMask) ? _owners[slot] : null;
    }

    /// <summary>Every live owner (a copy: owners unregister while being told to stop).</summary>
    /// <summary>
    /// What the registered owners wait for, read from another thread while the ring may run: best effort, for a
    /// stop that timed out (a concurrent resize can make it fail, and then it says so).
    /// </summary>
    public string DescribeFromOtherThread(int max)
    {
        try
        {
            var lines = new List<string>();
            foreach (IRingOperationOwner? owner in Volatile.Read(ref _owners))
            {
                if (owner is not null && lines.Count < max)
                {
                    lines.Add(owner.DescribeForDiagnostics());
                }
            }
            return lines.Count == 0 ? "none" : string.Join("; ", lines);
        }
        catch (Exception ex)
        {
            return $"unavailable ({ex.GetType().Name})";
        }
    }

    public List<IRingOperationOwner> Snapshot()
    {
        var list = new List<IRingOperationOwner>(Count);
        foreach (var owner in _owners)
        {
            if (owner is not null)
            {
                list.Add(owner);
            }
        }
        return list;
    }
}
