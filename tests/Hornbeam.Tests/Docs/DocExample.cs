using System.Text.RegularExpressions;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Docs;

/// <summary>
/// A fenced <c>bash</c> block of README.md or a docs/ page that calls the API at <c>localhost:5000</c> (or the second
/// local replica at <c>localhost:5001</c>) with curl or a WebSocket: what a reader pastes into a terminal after
/// <c>dotnet run</c>. Blocks that start the API are not examples of it. A block that
/// cannot run against that one Development replica says so on the line above its fence, as
/// <c>&lt;!-- needs: what it needs first --&gt;</c>.
/// </summary>
public sealed partial record DocExample(string Page, int Line, string Text, string? Needs)
{
    /// <summary>The pages whose examples are checked. docs/benchmarks.md is left out: its commands drive the bench tools.</summary>
    public static IReadOnlyList<string> Pages { get; } =
    [
        "README.md",
        .. Directory.GetFiles(Path.Combine(RepositoryRoot.Path, "docs"), "*.md")
            .Select(f => "docs/" + Path.GetFileName(f))
            .Where(p => p != "docs/benchmarks.md")
            .Order(StringComparer.Ordinal),
    ];

    public static IReadOnlyList<DocExample> All { get; } = [.. Pages.SelectMany(Read)];

    /// <summary>The examples of one page, in page order.</summary>
    public static IEnumerable<DocExample> Read(string page)
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot.Path, page));
        for (var i = 0; i < lines.Length; i++)
        {
            var fence = Fence().Match(lines[i]);
            if (!fence.Success) continue;
            var end = Array.FindIndex(lines, i + 1, l => l.TrimEnd() == fence.Groups["ticks"].Value);
            if (end < 0) throw new InvalidOperationException($"{page}:{i + 1}: a fenced block that never closes");
            var text = string.Join('\n', lines[(i + 1)..end]);
            var needs = i > 0 ? NeedsMarker().Match(lines[i - 1]) : Match.Empty;
            if (fence.Groups["info"].Value is "bash" or "sh" or "shell" && CallsTheApi().IsMatch(text))
                yield return new DocExample(page, i + 1, text, needs.Success ? needs.Groups["what"].Value.Trim() : null);
            i = end;
        }
    }

    [GeneratedRegex(@"^(?<ticks>```+)\s*(?<info>\S*)\s*$")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^<!--\s*needs:(?<what>.+?)-->\s*$")]
    private static partial Regex NeedsMarker();

    [GeneratedRegex(@"(\bcurl\b.*|ws://)localhost:500[01]\b")]
    private static partial Regex CallsTheApi();
}
