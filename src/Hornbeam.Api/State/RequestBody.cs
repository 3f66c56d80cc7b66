using System.Buffers;
using System.IO.Pipelines;

namespace Hornbeam.Api.State;

/// <summary>Reads a request body into memory, refusing it as soon as it passes the limit.</summary>
internal static class RequestBody
{
    public static async Task<ReadOnlyMemory<byte>> ReadAsync(HttpRequest request, int limit)
    {
        if (request.ContentLength > limit) throw TooLarge(request.ContentLength.Value, limit);
        var reader = request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(request.HttpContext.RequestAborted);
            if (read.Buffer.Length > limit)
            {
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                throw TooLarge(read.Buffer.Length, limit);
            }
            if (read.IsCompleted)
            {
                var bytes = read.Buffer.ToArray();
                reader.AdvanceTo(read.Buffer.End);
                return bytes;
            }
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    public static HornbeamException TooLarge(long length, int limit) =>
        new(HornbeamError.TooLarge, $"The body is larger than {limit} bytes (at least {length} seen); at most {limit} bytes are allowed.");
}
