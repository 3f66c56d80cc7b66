using Hornbeam;
using Hornbeam.Api;
using Hornbeam.Api.Hosting;
using Hornbeam.Api.OpenApi;
using Hornbeam.Api.PubSub;
using Hornbeam.Api.State;

var builder = WebApplication.CreateBuilder(args);

builder.UseEmbeddedRedisWhenUnconfigured();
builder.Services.AddHornbeam();
builder.Services.AddHornbeamApi();
builder.Services.AddHornbeamOpenApi();

var app = builder.Build();

app.UseHornbeamApi();
app.UseWebSockets();
app.MapHornbeamOpenApi();
app.MapState();
app.MapPubSub();

app.Run();

/// <summary>The API host; public so tests can start it with WebApplicationFactory.</summary>
public partial class Program;
