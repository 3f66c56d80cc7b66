using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Hornbeam;

/// <summary>
/// The one rule for JSON that Hornbeam accepts, on every route and from every embedding caller: I-JSON (RFC 7493).
/// <list type="bullet">
/// <item>one JSON value, in UTF-8 throughout, strings included (RFC 8259 §8.1);</item>
/// <item>no escape that names half a surrogate pair (<c>"\ud800"</c> alone is not a character);</item>
/// <item>each member name at most once per object (compared after unescaping);</item>
/// <item>nested at most <see cref="MaxDepth"/> levels.</item>
/// </list>
/// A value that passes can be stored, forwarded and read back by any conforming JSON reader with the same meaning.
/// </summary>
public static class JsonRules
{
    /// <summary>
    /// How deep an accepted value may nest. Answers wrap a value at most two levels deeper (<c>{"values":{"k":…}}</c>),
    /// so every answer stays within the depth of 64 that System.Text.Json and most readers allow by default.
    /// </summary>
    public const int MaxDepth = 62;

    /// <summary>
    /// Throws <see cref="HornbeamException"/> (invalid input) naming <paramref name="subject"/> unless
    /// <paramref name="json"/> follows the rule.
    /// </summary>
    public static void Check(ReadOnlySpan<byte> json, string subject = "The body")
    {
        if (Problem(json) is { } problem) throw new HornbeamException(HornbeamError.InvalidInput, $"{subject} {problem}");
    }

    /// <summary>The same for a parsed element: its text as it arrived is checked, so duplicates and escapes are still visible.</summary>
    public static void Check(JsonElement value, string subject)
    {
        if (value.ValueKind == JsonValueKind.Undefined) return;
        Check(JsonMarshal.GetRawUtf8Value(value), subject);
    }

    /// <summary>
    /// Null when <paramref name="json"/> follows the rule, else what is wrong, worded to follow a subject ("… is not valid UTF-8").
    /// </summary>
    public static string? Problem(ReadOnlySpan<byte> json)
    {
        if (json.IsEmpty) return "is empty; send one JSON value (object, array, string, number, true, false or null).";
        if (!Utf8.IsValid(json)) return "is not valid UTF-8; JSON text must be UTF-8 (RFC 8259), strings included.";
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        Names? names = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        (names ??= new Names()).Open();
                        break;
                    case JsonTokenType.EndObject:
                        names!.Close();
                        break;
                    case JsonTokenType.PropertyName:
                        if (reader.ValueIsEscaped && HasLoneSurrogate(reader.ValueSpan)) return LoneSurrogate;
                        if (!names!.Add(ref reader))
                            return $"has the member name \"{reader.GetString()}\" twice in one object; " +
                                   "give each name once (I-JSON, RFC 7493).";
                        break;
                    case JsonTokenType.String:
                        if (reader.ValueIsEscaped && HasLoneSurrogate(reader.ValueSpan)) return LoneSurrogate;
                        break;
                }
            }
        }
        catch (JsonException) when (reader.CurrentDepth >= MaxDepth)
        {
            return $"nests deeper than {MaxDepth} levels; at most {MaxDepth} are allowed.";
        }
        catch (JsonException e)
        {
            return $"is not valid JSON: {e.Message}";
        }
        finally
        {
            names?.Dispose();
        }
        return null;
    }

    private const string LoneSurrogate =
        "holds a \\u escape for half a surrogate pair (e.g. \"\\ud800\" alone), which is not a character; " +
        "escape the whole pair or send the character itself.";

    // The reader has already checked the escapes' syntax, so every \u is followed by four hex digits.
    private static bool HasLoneSurrogate(ReadOnlySpan<byte> escaped)
    {
        for (var i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != '\\') continue;
            i++;
            if (escaped[i] != 'u') continue;
            var unit = Hex4(escaped.Slice(i + 1, 4));
            i += 4;
            if (unit is >= 0xDC00 and <= 0xDFFF) return true;
            if (unit is < 0xD800 or > 0xDBFF) continue;
            if (i + 6 >= escaped.Length || escaped[i + 1] != '\\' || escaped[i + 2] != 'u') return true;
            var low = Hex4(escaped.Slice(i + 3, 4));
            if (low is < 0xDC00 or > 0xDFFF) return true;
            i += 6;
        }
        return false;
    }

    private static int Hex4(ReadOnlySpan<byte> hex)
    {
        var value = 0;
        foreach (var b in hex) value = (value << 4) | (b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10);
        return value;
    }

    /// <summary>The member names of the objects open at the reader's position, unescaped, to find a name given twice.</summary>
    private sealed class Names : IDisposable
    {
        // Above this many members an object's names go into a set; below it a scan is cheaper than hashing.
        private const int ScanLimit = 16;
        private byte[] _bytes = ArrayPool<byte>.Shared.Rent(256);
        private int _used;
        private readonly List<(int Start, int Length)> _names = [];
        private readonly Stack<(int FirstName, int BytesUsed, HashSet<string>? Set)> _open = new();

        public void Open() => _open.Push((_names.Count, _used, null));

        public void Close()
        {
            var (first, bytesUsed, _) = _open.Pop();
            _names.RemoveRange(first, _names.Count - first);
            _used = bytesUsed;
        }

        public bool Add(ref Utf8JsonReader reader)
        {
            // Unescaping never lengthens a name.
            var length = reader.ValueSpan.Length;
            if (_used + length > _bytes.Length) Grow(_used + length);
            var name = _bytes.AsSpan(_used, length);
            if (reader.ValueIsEscaped) name = name[..reader.CopyString(name)];
            else reader.ValueSpan.CopyTo(name);

            var (first, bytesUsed, set) = _open.Peek();
            if (set is not null) return set.Add(Encoding.UTF8.GetString(name));
            for (var i = first; i < _names.Count; i++)
            {
                var (start, len) = _names[i];
                if (_bytes.AsSpan(start, len).SequenceEqual(name)) return false;
            }
            _names.Add((_used, name.Length));
            _used += name.Length;
            if (_names.Count - first > ScanLimit)
            {
                set = new HashSet<string>(StringComparer.Ordinal);
                for (var i = first; i < _names.Count; i++)
                    set.Add(Encoding.UTF8.GetString(_bytes.AsSpan(_names[i].Start, _names[i].Length)));
                _open.Pop();
                _open.Push((first, bytesUsed, set));
            }
            return true;
        }

        private void Grow(int needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _bytes.Length * 2));
            _bytes.AsSpan(0, _used).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = bigger;
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(_bytes);
    }
}
