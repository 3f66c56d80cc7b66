using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Hornbeam.Idempotency;

/// <summary>How long answers are remembered for retries with an <c>Idempotency-Key</c>, bound from <c>Hornbeam:Idempotency</c>.</summary>
public sealed class IdempotencyOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "Hornbeam:Idempotency";

    /// <summary>Longest <c>Idempotency-Key</c> accepted, in characters.</summary>
    public const int MaxKeyLength = 255;

    /// <summary>How long a key's first answer is kept: a repeat within this window gets it back instead of applying again.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Hornbeam:Idempotency:WindowSeconds must be at least 1.")]
    public int WindowSeconds { get; set; } = 3600;

    /// <summary>Largest answer body kept for replay, in bytes; a larger successful answer is replayed without its body.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Hornbeam:Idempotency:MaxStoredAnswerBytes must be 0 or more.")]
    public int MaxStoredAnswerBytes { get; set; } = 64 * 1024;
}

/// <summary>Checks <see cref="IdempotencyOptions"/> at start-up; the body is source-generated from the attributes.</summary>
[OptionsValidator]
internal sealed partial class IdempotencyOptionsValidator : IValidateOptions<IdempotencyOptions>;
