using System.Text;
using System.Text.RegularExpressions;

namespace Hornbeam.Tests.Docs;

/// <summary>
/// Turns a doc example into a bash script that runs it as written, with three changes: the API's address is the test
/// replica's; every curl fails on an HTTP error (<c>--fail-with-body</c>) and gives up after a minute; and a command whose
/// comment says it "stays open" (a subscription) runs in the background, the script waiting, by polling with a deadline,
/// until it has subscribed, and at the end until it has received a message.
/// </summary>
public static partial class DocExampleScript
{
    private const string Prelude = """
        set -euo pipefail
        curl() { command curl --silent --show-error --fail-with-body --max-time 60 "$@"; }
        # Polls a background command's output for a line until a deadline, never a fixed sleep.
        hb_wait_for() {
          local deadline=$((SECONDS + 20))
          until grep -q "$2" "$1" 2>/dev/null; do
            if ((SECONDS >= deadline)); then echo "no '$2' within 20 s from a command that stays open:" >&2; cat "$1" >&2; return 1; fi
            sleep 0.05
          done
        }
        trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
        hb_open=$(mktemp -d)

        """;

    public static string For(DocExample example, string apiAddress)
    {
        var script = new StringBuilder(Prelude);
        var open = 0;
        foreach (var line in example.Text.Split('\n'))
        {
            var command = line.Replace("localhost:5000", apiAddress, StringComparison.Ordinal);
            var staysOpen = StaysOpen().Match(command);
            if (!staysOpen.Success)
            {
                script.AppendLine(command);
                continue;
            }
            open++;
            script.AppendLine($"{staysOpen.Groups["command"].Value} > \"$hb_open/{open}\" 2>&1 &");
            script.AppendLine($"hb_wait_for \"$hb_open/{open}\" '^event: subscribed'");
        }
        for (var i = 1; i <= open; i++) script.AppendLine($"hb_wait_for \"$hb_open/{i}\" '^id:'");
        return script.ToString();
    }

    // A one-line command followed by a comment that says it stays open, as `curl -N …/pubsub/t   # subscribe; stays open`.
    [GeneratedRegex(@"^(?<command>[^#]*\S)\s+#.*\bstays open\b")]
    private static partial Regex StaysOpen();
}
