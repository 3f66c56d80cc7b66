using Hornbeam;
using Hornbeam.Api;
using Hornbeam.Api.Hooks;
using Hornbeam.Api.Hosting;
using Hornbeam.Api.OpenApi;
using Hornbeam.Api.State;
using Hornbeam.Api.Tasks;

var builder = WebApplication.CreateBuilder(args);

builder.UseEmbeddedRedisWhenUnconfigured();
builder.Services.AddHornbeam();
builder.Services.AddHornbeamApi();
builder.Services.AddHornbeamOpenApi();

var app = builder.Build();

app.UseHornbeamApi();
app.MapHornbeamOpenApi();
app.MapState();
app.MapHooks();
app.MapTasks();

app.Run();

/// <summary>The API host; public so tests can start it with WebApplicationFactory.</summary>
public partial class Program;
