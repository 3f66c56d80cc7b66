namespace Hornbeam.Webhooks;

/// <summary>Where one piece of a streamed answer ends, for <see cref="ChunkLimitedStream"/>.</summary>
internal enum ChunkBoundary
{
    /// <summary>The whole body is one piece (a single JSON answer).</summary>
    None,

    /// <summary>Each line is a piece (newline-delimited JSON).</summary>
    Line,

    /// <summary>Each event, up to its blank line, is a piece (Server-Sent Events).</summary>
    BlankLine,
}

/// <summary>
/// A streamed answer read through a limit on each piece: a stream may run as long as it likes, but no one line, event
/// or whole answer may pass <paramref name="maxChunkBytes"/>, so no piece a parser buffers grows without bound.
/// Lines end at LF, CR or CR LF, as in the Server-Sent Events format.
/// </summary>
internal sealed class ChunkLimitedStream(Stream inner, ChunkBoundary boundary, int maxChunkBytes, Func<Exception> tooLarge) : Stream
{
    private long _inChunk;
    private bool _lineEmpty = true;
    private bool _afterCr;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        Count(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = inner.Read(buffer, offset, count);
        Count(buffer.AsSpan(offset, n));
        return n;
    }

    private void Count(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            _inChunk++;
            if (b == (byte)'\r' || (b == (byte)'\n' && !_afterCr))
            {
                if (boundary == ChunkBoundary.Line || (boundary == ChunkBoundary.BlankLine && _lineEmpty)) _inChunk = 0;
                _lineEmpty = true;
            }
            else if (b != (byte)'\n')
            {
                _lineEmpty = false;
            }
            _afterCr = b == (byte)'\r';
            if (_inChunk > maxChunkBytes) throw tooLarge();
        }
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync();
        await base.DisposeAsync();
    }
}
