using System.Buffers.Text;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Hornbeam.Bench.SseLatency;

/// <summary>One event off a stream: its type (empty for the default, <c>message</c>), its data, and when its read completed.</summary>
internal delegate void SseEventHandler(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data, long receivedAt);

/// <summary>
/// An SSE stream over a plain socket, as a browser's EventSource opens it (HTTP/1.1 GET, chunked response), decoded in place:
/// one receive, one de-chunking pass and one split per read, with no per-event task, string or parser object. Each stream is
/// its own async read loop, so the time of an event is the time its own read completed.
/// </summary>
internal static class RawSseStream
{
    public static async Task ReadAsync(Uri node, string path, string? apiKey, SseEventHandler onEvent, CancellationToken cancellation)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(node.Host, node.Port, cancellation);
        var key = apiKey is null ? "" : $"X-Api-Key: {apiKey}\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"GET {path} HTTP/1.1\r\nHost: {node.Authority}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n{key}\r\n"),
            cancellation);

        var decoder = new Decoder();
        var raw = new byte[8192];
        var count = 0;
        while (true)
        {
            if (count == raw.Length) Array.Resize(ref raw, raw.Length * 2);
            var read = await socket.ReceiveAsync(raw.AsMemory(count), cancellation);
            var at = Stopwatch.GetTimestamp();
            if (read == 0) return; // the server closed the stream
            count += read;
            var used = decoder.Feed(raw.AsSpan(0, count), onEvent, at);
            if (decoder.Ended) return;
            raw.AsSpan(used, count - used).CopyTo(raw);
            count -= used;
        }
    }

    /// <summary>HTTP response head, then the chunked (or close-delimited) body, then events split at blank lines.</summary>
    private sealed class Decoder
    {
        private enum State { Head, ChunkSize, ChunkData, ChunkEnd, Identity }

        private State _state = State.Head;
        private long _chunkLeft;
        private byte[] _body = new byte[8192];
        private int _bodyCount;

        public bool Ended { get; private set; }

        /// <summary>Consumes what it can of <paramref name="input"/>; answers how many bytes it used.</summary>
        public int Feed(ReadOnlySpan<byte> input, SseEventHandler onEvent, long at)
        {
            var pos = 0;
            while (pos < input.Length && !Ended)
            {
                var rest = input[pos..];
                switch (_state)
                {
                    case State.Head:
                    {
                        var end = rest.IndexOf("\r\n\r\n"u8);
                        if (end < 0) return pos;
                        var head = rest[..end];
                        var status = head[..Math.Max(0, head.IndexOf("\r\n"u8))];
                        if (!status.StartsWith("HTTP/1.1 200"u8) && !status.StartsWith("HTTP/1.0 200"u8))
                            throw new InvalidOperationException($"the stream answered {Encoding.ASCII.GetString(status)}");
                        _state = Encoding.ASCII.GetString(head).Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase)
                            ? State.ChunkSize : State.Identity;
                        pos += end + 4;
                        break;
                    }
                    case State.ChunkSize:
                    {
                        var end = rest.IndexOf("\r\n"u8);
                        if (end < 0) return pos;
                        var size = rest[..end];
                        var extension = size.IndexOf((byte)';');
                        if (!Utf8Parser.TryParse(extension < 0 ? size : size[..extension], out long length, out _, 'X'))
                            throw new InvalidOperationException("a malformed chunk size");
                        pos += end + 2;
                        if (length == 0) Ended = true;
                        _chunkLeft = length;
                        _state = State.ChunkData;
                        break;
                    }
                    case State.ChunkData:
                    {
                        var take = (int)Math.Min(_chunkLeft, rest.Length);
                        Append(rest[..take], onEvent, at);
                        pos += take;
                        _chunkLeft -= take;
                        if (_chunkLeft == 0) _state = State.ChunkEnd;
                        break;
                    }
                    case State.ChunkEnd:
                        if (rest.Length < 2) return pos;
                        pos += 2;
                        _state = State.ChunkSize;
                        break;
                    default:
                        Append(rest, onEvent, at);
                        pos = input.Length;
                        break;
                }
            }
            return pos;
        }

        private void Append(ReadOnlySpan<byte> data, SseEventHandler onEvent, long at)
        {
            if (_bodyCount + data.Length > _body.Length) Array.Resize(ref _body, Math.Max(_body.Length * 2, _bodyCount + data.Length));
            data.CopyTo(_body.AsSpan(_bodyCount));
            _bodyCount += data.Length;

            var body = _body.AsSpan(0, _bodyCount);
            var start = 0;
            while (true)
            {
                // The server writes "\n" line ends, so an event ends at the first "\n\n".
                var end = body[start..].IndexOf("\n\n"u8);
                if (end < 0) break;
                Dispatch(body.Slice(start, end), onEvent, at);
                start += end + 2;
            }
            body[start..].CopyTo(_body);
            _bodyCount -= start;
        }

        private static void Dispatch(ReadOnlySpan<byte> lines, SseEventHandler onEvent, long at)
        {
            ReadOnlySpan<byte> type = default, data = default;
            var any = false;
            foreach (var range in lines.Split((byte)'\n'))
            {
                var line = lines[range];
                if (line.StartsWith("event: "u8)) type = line[7..];
                else if (line.StartsWith("data: "u8)) data = line[6..]; // the server's data is one line of compact JSON
                else continue;
                any = true;
            }
            if (any) onEvent(type, data, at); // comments (": ping") carry neither
        }
    }
}
