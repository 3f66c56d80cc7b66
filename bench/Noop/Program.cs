// The cheapest answer our stack can give: same host defaults as Hornbeam.Api, a fixed JSON body, no I/O.
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

var answer = """{"key":"k","value":1}"""u8.ToArray();
app.MapGet("/noop", () => TypedResults.Bytes(answer, "application/json")).WithName("NoopGet");
app.MapPost("/noop", () => TypedResults.Bytes(answer, "application/json")).WithName("NoopPost");

// The HTTP hook behind bench/run.sh's hook and inference-cache rows: Hornbeam POSTs {"args", "kwargs"} to
// {base}/{action}; the body is not read, so the row measures Hornbeam's round trip, not the hook's work.
var hookAnswer = """{"ok":1}"""u8.ToArray();
app.MapPost("/hook/{action}", () => TypedResults.Bytes(hookAnswer, "application/json")).WithName("NoopHook");

app.Run();
