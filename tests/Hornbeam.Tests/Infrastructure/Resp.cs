using System.Net.Sockets;
using System.Text;

namespace Hornbeam.Tests.Infrastructure;

/// <summary>
/// One Redis command over a fresh loopback socket, for test set-up that must talk to any Redis process as it is: a
/// Sentinel, a replica still loading, a node that may be dead or frozen. A multiplexer would route, retry and reconnect.
/// </summary>
public static class Resp
{
    /// <summary>
    /// The reply as text (arrays flattened to their elements, one per line; nil as null); throws on an error reply or timeout.
    /// </summary>
    public static async Task<string?> CommandAsync(int port, params string[] arguments)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, cts.Token);
        var stream = client.GetStream();
        var request = new StringBuilder($"*{arguments.Length}\r\n");
        foreach (var argument in arguments) request.Append($"${Encoding.UTF8.GetByteCount(argument)}\r\n{argument}\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cts.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await ReadAsync(reader, cts.Token);
    }

    /// <summary>
    /// Several commands on one connection, answering the last reply: <c>READONLY</c> then a read lets a cluster replica
    /// answer from its own copy instead of redirecting. Null when the process does not answer or any reply is an error.
    /// </summary>
    public static async Task<string?> TryCommandsAsync(int port, params string[][] commands)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port, cts.Token);
            var stream = client.GetStream();
            var request = new StringBuilder();
            foreach (var arguments in commands)
            {
                request.Append($"*{arguments.Length}\r\n");
                foreach (var argument in arguments) request.Append($"${Encoding.UTF8.GetByteCount(argument)}\r\n{argument}\r\n");
            }
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), cts.Token);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            string? reply = null;
            foreach (var _ in commands) reply = await ReadAsync(reader, cts.Token);
            return reply;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>As <see cref="CommandAsync"/>, or null when the process does not answer (down, frozen, refusing).</summary>
    public static async Task<string?> TryCommandAsync(int port, params string[] arguments)
    {
        try
        {
            return await CommandAsync(port, arguments);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<string?> ReadAsync(StreamReader reader, CancellationToken ct)
    {
        var line = await reader.ReadLineAsync(ct) ?? throw new IOException("Redis closed the connection.");
        var rest = line[1..];
        switch (line[0])
        {
            case '+':
            case ':':
                return rest;
            case '-':
                throw new InvalidOperationException("Redis error: " + rest);
            case '$':
                var length = int.Parse(rest);
                if (length < 0) return null;
                var buffer = new char[length + 2];
                var read = 0;
                // Loopback replies here are ASCII, so characters and bytes agree.
                while (read < buffer.Length)
                {
                    var n = await reader.ReadAsync(buffer.AsMemory(read), ct);
                    read += n > 0 ? n : throw new IOException("Redis closed the connection.");
                }
                return new string(buffer, 0, length);
            case '*':
                var count = int.Parse(rest);
                if (count < 0) return null;
                var items = new List<string?>();
                for (var i = 0; i < count; i++) items.Add(await ReadAsync(reader, ct));
                return string.Join("\n", items);
            default:
                throw new IOException("Unexpected reply from Redis: " + line);
        }
    }
}
