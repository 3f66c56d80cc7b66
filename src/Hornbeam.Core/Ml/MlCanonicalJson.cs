using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Hornbeam.Ml;

/// <summary>
/// The canonical JSON form of a cache input, so that equal inputs always give the same cache key. It follows RFC 8785
/// (JCS) except for how numbers are written:
/// <list type="bullet">
/// <item>no insignificant white space;</item>
/// <item>object members sorted by name, ordinally by UTF-16 code units; a name given twice in one object is refused;</item>
/// <item>array elements keep their order;</item>
/// <item>strings escape only <c>"</c>, <c>\</c> and control characters below U+0020 (as <c>\b \t \n \f \r</c>, else
/// <c>\u00xx</c> in lower-case hex); every other character is written as itself, in UTF-8;</item>
/// <item>a number whose value is an integer in the 64-bit range is written as that integer (<c>1</c>, <c>1.0</c>,
/// <c>1e0</c> and <c>10E-1</c> all become <c>1</c>; <c>-0</c> becomes <c>0</c>); an integer literal that fits a long keeps
/// all its digits; any other number is read as a double and written in .NET's shortest round-trip form
/// (<c>double.ToString("R", InvariantCulture)</c>, e.g. <c>0.1</c>, <c>1.5E-07</c>, <c>1E+20</c>); a number too large
/// for a double is written as given;</item>
/// <item><c>true</c>, <c>false</c> and <c>null</c> as themselves.</item>
/// </list>
/// </summary>
public static class MlCanonicalJson
{
    /// <summary>
    /// The canonical form of <paramref name="value"/>; throws <see cref="HornbeamException"/> (invalid input) for a
    /// duplicate member name or a string that is not valid Unicode.
    /// </summary>
    public static string Write(JsonElement value)
    {
        var text = new StringBuilder();
        Write(value, text);
        return text.ToString();
    }

    /// <summary>
    /// The cache key of <paramref name="input"/>: <c>{cachePrefix}:{the first 32 hex digits (lower case) of the SHA-256 of
    /// the UTF-8 of the canonical form}</c>, e.g. <c>ml:5f2b…</c>.
    /// </summary>
    public static string CacheKey(string cachePrefix, JsonElement input)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(Write(input)));
        return $"{cachePrefix}:{Convert.ToHexStringLower(hash.AsSpan(0, 16))}";
    }

    private static void Write(JsonElement value, StringBuilder text)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var members = value.EnumerateObject().Select(p => (Name: GetName(p), p.Value)).ToList();
                members.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                text.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0)
                    {
                        if (members[i].Name == members[i - 1].Name)
                            throw new HornbeamException(HornbeamError.InvalidInput,
                                $"The input has the member name '{members[i].Name}' twice in one object; " +
                                "a cache key needs each name once.");
                        text.Append(',');
                    }
                    WriteString(members[i].Name, text);
                    text.Append(':');
                    Write(members[i].Value, text);
                }
                text.Append('}');
                break;
            case JsonValueKind.Array:
                text.Append('[');
                var first = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!first) text.Append(',');
                    first = false;
                    Write(item, text);
                }
                text.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(GetString(value), text);
                break;
            case JsonValueKind.Number:
                WriteNumber(value, text);
                break;
            case JsonValueKind.True:
                text.Append("true");
                break;
            case JsonValueKind.False:
                text.Append("false");
                break;
            case JsonValueKind.Null:
                text.Append("null");
                break;
            default:
                throw new HornbeamException(HornbeamError.InvalidInput, "The input is not a JSON value.");
        }
    }

    private static void WriteNumber(JsonElement value, StringBuilder text)
    {
        if (value.TryGetInt64(out var integer))
        {
            text.Append(integer.ToString(CultureInfo.InvariantCulture));
            return;
        }
        var raw = value.GetRawText();
        var number = double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (!double.IsFinite(number)) text.Append(raw);
        // 2^63 is exact as a double; below it every integral double converts to a long without loss. -0.0 lands here too.
        else if (number == Math.Floor(number) && number >= -9223372036854775808.0 && number < 9223372036854775808.0)
            text.Append(((long)number).ToString(CultureInfo.InvariantCulture));
        else text.Append(number.ToString("R", CultureInfo.InvariantCulture));
    }

    private static void WriteString(string value, StringBuilder text)
    {
        text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\t': text.Append("\\t"); break;
                case '\n': text.Append("\\n"); break;
                case '\f': text.Append("\\f"); break;
                case '\r': text.Append("\\r"); break;
                case < ' ': text.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture)); break;
                default: text.Append(c); break;
            }
        }
        text.Append('"');
    }

    private static string GetName(JsonProperty property)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException e)
        {
            throw NotUnicode(e);
        }
    }

    private static string GetString(JsonElement value)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw NotUnicode(e);
        }
    }

    private static HornbeamException NotUnicode(Exception e) =>
        new(HornbeamError.InvalidInput,
            "The input holds a string that is not valid Unicode (e.g. a lone surrogate escape); it has no canonical form.", e);
}
