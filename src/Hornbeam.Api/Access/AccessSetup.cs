using System.ComponentModel.DataAnnotations;
using System.Net;
using Hornbeam.Access;
using Hornbeam.Redis;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Hornbeam.Api.Access;

/// <summary>
/// Who may do what, on ASP.NET Core's authentication and authorization: API keys and browser tokens (a policy scheme picks
/// the handler by the credential), one authorization policy per scope, per-key rate limits shared by all replicas, and
/// real client addresses behind proxies.
/// </summary>
public static class AccessSetup
{
    /// <summary>The configuration key of the proxies whose <c>X-Forwarded-For</c> is believed.</summary>
    public const string KnownProxiesSection = "Hornbeam:KnownProxies";

    public static WebApplicationBuilder AddHornbeamAccess(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        services.AddOptions<AccessOptions>().BindConfiguration(AccessOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AccessOptions>, AccessOptionsValidator>();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RateLimitOptions>, RateLimitOptionsValidator>();
        var access = configuration.GetSection(AccessOptions.Section).Get<AccessOptions>() ?? new AccessOptions();
        var rates = configuration.GetSection(RateLimitOptions.Section).Get<RateLimitOptions>() ?? new RateLimitOptions();
        var redis = configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        // Whether keys are checked depends on the environment and decides the pipeline, so it is settled here, before the
        // host is built; the rules of each setting are the validators' (checked when the host starts).
        var enabled = access.Enabled ?? access.Keys.Count > 0;
        if (enabled && access.Keys.Count == 0)
            throw new InvalidOperationException("Hornbeam:Auth:Enabled is true but no Hornbeam:Auth:Keys are configured; add at least " +
                "one key with its scopes.");
        if (access.Enabled is null && access.Keys.Count == 0 && !builder.Environment.IsDevelopment())
            throw new InvalidOperationException(
                "No API keys are configured (Hornbeam:Auth:Keys) outside the Development environment. Configure keys, " +
                "or set Hornbeam:Auth:Enabled=false to run without access control on purpose.");

        var proxies = configuration.GetSection(KnownProxiesSection).Get<string[]>() ?? [];
        var (addresses, networks) = ParseProxies(proxies);
        if (proxies.Length > 0) services.Configure<ForwardedHeadersOptions>(o => TrustOnly(o, addresses, networks));

        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<TokenIssuer>();
        // The request lines of ASP.NET Core's hosting log name the whole URL, a subscription's ?access_token= included, before
        // any middleware could take it out: with tokens on they stay off whatever the configuration says.
        if (access.Tokens.Enabled) builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        services.TryAddSingleton(TimeProvider.System);
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AccessJsonContext.Default));
        services.AddAuthentication(AccessSchemes.ApiKey)
            .AddJwtBearer(AccessSchemes.Token, o => TokenAuthentication.Configure(o, access.Tokens));
        services.Configure<AuthenticationOptions>(o => o.AddScheme<ApiKeyAuthenticationHandler>(AccessSchemes.ApiKey, "API key or token"));
        services.AddTransient<ApiKeyAuthenticationHandler>();
        var authorization = services.AddAuthorizationBuilder();
        foreach (var scope in Scopes.All)
            authorization.AddPolicy(Policy(scope), p => p.AddRequirements(
                scope == Scopes.Tokens ? new ScopeRequirement(scope, enabled, Scopes.Admin) : new ScopeRequirement(scope, enabled)));
        services.Replace(ServiceDescriptor.Singleton<IAuthorizationMiddlewareResultHandler, AccessAuthorizationResultHandler>());
        // A request RememberedKeyShortcut lets through has met its route's policy without the authorization middleware seeing it.
        services.Configure<RouteOptions>(o => o.SuppressCheckForUnhandledSecurityMetadata = true);
        SingletonsForStatelessAuthorization(services);
        services.AddSingleton(sp => new SharedRateLimiter(sp.GetRequiredService<RedisBatcher>(), sp.GetRequiredService<RedisKeys>()));
        services.AddSingleton<FailedAttempts>();
        services.AddSingleton(new AccessState(
            enabled,
            RateLimited: rates.PermitsPerSecond > 0 || access.Keys.Any(k => k.PermitsPerSecond > 0),
            DefaultPermits: rates.PermitsPerSecond,
            rates.Burst,
            enabled ? access.FailedAttemptsPerMinute : 0,
            access.Tokens.Enabled,
            // The limiter's share of the Redis deadline, so a request whose Redis hangs still ends within the deadline.
            LimiterWait: TimeSpan.FromMilliseconds(redis.DeadlineMs / 4.0),
            TrustsProxies: proxies.Length > 0));
        return builder;
    }

    public static WebApplication UseHornbeamAccess(this WebApplication app)
    {
        var access = app.Services.GetRequiredService<AccessState>();
        // First, so every later step (limits, failed attempts, logs) sees the client's address, not the proxy's.
        if (access.TrustsProxies) app.UseForwardedHeaders();
        if (!access.Enabled)
            app.Logger.LogWarning("Access control is OFF: every request is allowed. Configure Hornbeam:Auth:Keys before exposing this " +
                "service.");
        // With access control off and no rate limit nothing reads a key, so a key a client sends anyway is not looked up.
        if (access.Enabled || access.RateLimited)
        {
            app.UseWhen(context => !RememberedKeyShortcut.Applies(context, access), framework =>
            {
                framework.UseAuthentication();
                framework.UseAuthorization();
            });
            // A branch's builder keeps its properties to itself, so the host would not see these middlewares and would add
            // them again at the start of the pipeline (WebApplication's automatic UseAuthentication and UseAuthorization).
            ((IApplicationBuilder)app).Properties["__AuthenticationMiddlewareSet"] = true;
            ((IApplicationBuilder)app).Properties["__AuthorizationMiddlewareSet"] = true;
        }
        // Always: every route that needs a scope carries its policy, which lets every request through with access control off.
        else app.UseAuthorization();
        if (access.RateLimited) app.UseMiddleware<RateLimitMiddleware>();
        return app;
    }

    /// <summary>
    /// The framework registers its authorization services as transient, so every request that needs a scope would open a
    /// DI scope and build about ten of them. They keep no per-request state (the policy, user and resource are arguments),
    /// so one of each serves every request.
    /// </summary>
    private static void SingletonsForStatelessAuthorization(IServiceCollection services)
    {
        Type[] stateless = [typeof(IAuthorizationService), typeof(IAuthorizationPolicyProvider), typeof(IAuthorizationHandlerProvider),
            typeof(IAuthorizationEvaluator), typeof(IAuthorizationHandlerContextFactory), typeof(IAuthorizationHandler),
            typeof(Microsoft.AspNetCore.Authorization.Policy.IPolicyEvaluator)];
        for (var i = 0; i < services.Count; i++)
            if (services[i] is { Lifetime: ServiceLifetime.Transient, ImplementationType: { } type, IsKeyedService: false } transient
                && stateless.Contains(transient.ServiceType))
                services[i] = ServiceDescriptor.Singleton(transient.ServiceType, type);
    }

    /// <summary>The name of the authorization policy that requires <paramref name="scope"/>.</summary>
    public static string Policy(string scope) => "scope:" + scope;

    /// <summary>The route needs an API key or token holding <paramref name="scope"/> (when access control is on).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(Policy(scope)).WithMetadata(new ScopeMetadata(scope))
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

    /// <summary>
    /// The route (a subscription stream) also reads a token from <c>?access_token=</c>, for browsers, whose EventSource and
    /// WebSocket cannot send headers.
    /// </summary>
    public static TBuilder AcceptsAccessToken<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AccessTokenQuery());

    /// <summary>
    /// Believes <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> only from the configured proxies, in place of the
    /// framework's default of loopback. Entries are read from the right while the sender is a known proxy, so a client
    /// cannot choose its own address by sending the header itself: the proxy appends the address it saw.
    /// </summary>
    private static void TrustOnly(ForwardedHeadersOptions options, List<IPAddress> addresses, List<System.Net.IPNetwork> networks)
    {
        options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
        options.ForwardLimit = null;
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var address in addresses) options.KnownProxies.Add(address);
        foreach (var network in networks) options.KnownIPNetworks.Add(network);
    }

    private static (List<IPAddress>, List<System.Net.IPNetwork>) ParseProxies(string[] proxies)
    {
        List<IPAddress> addresses = [];
        List<System.Net.IPNetwork> networks = [];
        foreach (var entry in proxies.Select(p => p.Trim()))
        {
            if (entry.Contains('/') && System.Net.IPNetwork.TryParse(entry, out var network)) networks.Add(network);
            else if (!entry.Contains('/') && IPAddress.TryParse(entry, out var address)) addresses.Add(address);
            else throw new InvalidOperationException($"'{entry}' in {KnownProxiesSection} is neither an IP address nor a CIDR network " +
                "(such as 10.0.0.0/8).");
        }
        return (addresses, networks);
    }
}

/// <summary>Access settings read once at start-up: whether keys are checked, which limits apply, which proxies are believed.</summary>
internal sealed record AccessState(bool Enabled, bool RateLimited, int DefaultPermits, int MinimumBurst, int FailedAttemptsPerMinute,
    bool Tokens, TimeSpan LimiterWait, bool TrustsProxies)
{
    /// <summary>The permits a budget of <paramref name="permits"/> per second holds: at least a second's worth.</summary>
    public int Burst(int permits) => Math.Max(permits, MinimumBurst);
}

/// <summary>Per-key request rates, bound from <c>Hornbeam:RateLimit</c>; every replica spends from one budget per key in Redis.</summary>
public sealed class RateLimitOptions : IValidatableObject
{
    public const string Section = "Hornbeam:RateLimit";

    /// <summary>Requests per second for each key (or client address without a key); 0 means no limit.</summary>
    public int PermitsPerSecond { get; set; }

    /// <summary>How many requests a key may make at once before the rate applies (at least its rate per second).</summary>
    public int Burst { get; set; }

    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (PermitsPerSecond < 0 || Burst < 0)
            yield return new ValidationResult("Hornbeam:RateLimit:PermitsPerSecond and Burst must be 0 or more.");
    }
}

/// <summary>Checks <see cref="RateLimitOptions"/> at start-up; the body is source-generated and calls the rule above.</summary>
[OptionsValidator]
internal sealed partial class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>;
