using System.ComponentModel.DataAnnotations;

namespace Hornbeam;

/// <summary>
/// <see cref="RangeAttribute"/> under another name, so that its <see cref="ValidationAttribute.ErrorMessage"/> (which names
/// the setting) reaches the start-up error: the <c>[OptionsValidator]</c> generator swaps a plain <c>[Range]</c> for a
/// copy of its own that drops the message (dotnet/runtime#123137), while other attributes are used as they are.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
internal sealed class SettingRangeAttribute : RangeAttribute
{
    /// <summary><see cref="TimeSpan.MaxValue"/> as the text a range over <see cref="TimeSpan"/> takes.</summary>
    public const string MaxTimeSpan = "10675199.02:48:05.4775807";

    public SettingRangeAttribute(int minimum, int maximum) : base(minimum, maximum) { }

    public SettingRangeAttribute(Type type, string minimum, string maximum) : base(type, minimum, maximum)
    {
        ParseLimitsInInvariantCulture = true;
    }
}
