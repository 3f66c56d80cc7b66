using Hornbeam;
using Hornbeam.Api;
using Hornbeam.Api.Access;
using Hornbeam.Api.Cluster;
using Hornbeam.Api.Cors;
using Hornbeam.Api.Functions;
using Hornbeam.Api.Health;
using Hornbeam.Api.Hooks;
using Hornbeam.Api.Hosting;
using Hornbeam.Api.Idempotency;
using Hornbeam.Api.Json;
using Hornbeam.Api.Ml;
using Hornbeam.Api.OpenApi;
using Hornbeam.Api.PubSub;
using Hornbeam.Api.State;
using Hornbeam.Api.Tasks;
using Hornbeam.Api.Telemetry;

var builder = WebApplication.CreateBuilder(args);

// Outside Development a missing Redis connection string is one log line and exit code 1, not a stack trace.
if (!builder.UseRedisOrEmbeddedInDevelopment()) return 1;
builder.Services.AddHornbeam();
if (builder.Environment.IsDevelopment()) builder.Services.AddDevelopmentSamples();
builder.Services.AddHornbeamApi();
builder.Services.AddHornbeamHealth();
builder.Services.AddHornbeamCors();
builder.AddHornbeamAccess();
builder.Services.AddHornbeamTelemetry(builder.Configuration);
builder.Services.AddHornbeamOpenApi();

var app = builder.Build();

app.UseHornbeamApi();
// Ahead of access control, which refuses a WebSocket after its upgrade (a browser cannot read a refused handshake).
app.UseWhen(context => context.Request.Path.StartsWithSegments("/ws") || context.Request.Path.StartsWithSegments("/hooks/workers"),
    ws => ws.UseWebSockets());
app.UseHornbeamCors();
app.UseHornbeamAccess();
app.UseJsonBodyRules();
app.UseIdempotency();
app.MapHornbeamOpenApi();
app.MapHornbeamTelemetry();
app.MapHealth();
app.MapState();
app.MapHooks();
app.MapTasks();
app.MapMl();
app.MapPubSub();
app.MapCluster();
app.MapFunctions();
app.MapTokens();
app.AnswerHeadAsGet();

app.Run();
return 0;

/// <summary>The API host; public so tests can start it with WebApplicationFactory.</summary>
public partial class Program;
