using System.Buffers;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;

namespace Hornbeam.Api.Json;

/// <summary>
/// A 200 whose JSON is written by hand, so stored values go out as the bytes Redis holds without a parse and re-serialise.
/// <typeparamref name="TSchema"/> is the type the OpenAPI document shows for it.
/// </summary>
public sealed class RawJson<TSchema>(Action<Utf8JsonWriter> write) : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult
{
    private static readonly JsonWriterOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true
    };

    public int? StatusCode => StatusCodes.Status200OK;

    // One buffer and writer per thread: the JSON is copied into the response pipe before ExecuteAsync returns.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    public Task ExecuteAsync(HttpContext context)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(256);
        var writer = t_writer ??= new Utf8JsonWriter(buffer, Options);
        writer.Reset(buffer);
        write(writer);
        writer.Flush();

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = buffer.WrittenCount;
        response.BodyWriter.Write(buffer.WrittenSpan);
        buffer.ResetWrittenCount();
        // A large value's buffer is not kept: a thread would hold its memory until the next large one.
        if (buffer.Capacity > 64 * 1024) (t_buffer, t_writer) = (null, null);
        var flush = response.BodyWriter.FlushAsync();
        return flush.IsCompletedSuccessfully ? Task.CompletedTask : flush.AsTask();
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(TSchema), ["application/json"]));
}
