using Hornbeam;
using Hornbeam.Api;
using Hornbeam.Api.Cluster;
using Hornbeam.Api.Functions;
using Hornbeam.Api.Hosting;
using Hornbeam.Api.OpenApi;
using Hornbeam.Api.State;

var builder = WebApplication.CreateBuilder(args);

builder.UseEmbeddedRedisWhenUnconfigured();
builder.Services.AddHornbeam();
builder.Services.AddHornbeamApi();
builder.Services.AddHornbeamOpenApi();

var app = builder.Build();

app.UseHornbeamApi();
app.MapHornbeamOpenApi();
app.MapState();
app.MapCluster();
app.MapFunctions();

app.Run();

/// <summary>The API host; public so tests can start it with WebApplicationFactory.</summary>
public partial class Program;
