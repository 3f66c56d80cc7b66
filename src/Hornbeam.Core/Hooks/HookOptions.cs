using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Hooks;

/// <summary>Settings of hooks, bound from <c>Hornbeam:Hooks</c>.</summary>
public sealed class HookOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Hornbeam:Hooks";

    /// <summary>How long one call to an HTTP hook may take, in seconds; a stream may take this long to start.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Hooks:HttpTimeoutSeconds must be at least 1.")]
    public int HttpTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// How often a hook worker's connection is pinged, in seconds; a worker that has not answered a ping within as long again
    /// is disconnected and its hooks leave.
    /// </summary>
    [SettingRange(1, 3600, ErrorMessage = "Hornbeam:Hooks:WorkerKeepAliveSeconds must be from 1 to 3600.")]
    public int WorkerKeepAliveSeconds { get; set; } = 5;
}

/// <summary>Checks <see cref="HookOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class HookOptionsValidator : IValidateOptions<HookOptions>;
