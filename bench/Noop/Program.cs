// The cheapest answer our stack can give: same host defaults as Hornbeam.Api, a fixed JSON body, no I/O.
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

var answer = """{"key":"k","value":1}"""u8.ToArray();
app.MapGet("/noop", () => TypedResults.Bytes(answer, "application/json")).WithName("NoopGet");
app.MapPost("/noop", () => TypedResults.Bytes(answer, "application/json")).WithName("NoopPost");

app.Run();
