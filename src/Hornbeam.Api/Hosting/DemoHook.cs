using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Hornbeam.Api.Hosting;

/// <summary>
/// The sample hook <c>demo</c>: stand-ins for a model (no model is loaded, answers are computed from the input), one per
/// kind of call the docs show — an answer, a stream and a slow job for a background task.
/// </summary>
internal sealed class DemoHook
{
    /// <summary>Action <c>encode</c>: a four-number "embedding" of <paramref name="text"/>, the same for the same text.</summary>
    public double[] Encode(string text) =>
        [.. SHA256.HashData(Encoding.UTF8.GetBytes(text)).Take(4).Select(b => Math.Round(b / 255.0, 3))];

    /// <summary>Action <c>similarity</c>: the cosine similarity of two vectors.</summary>
    public double Similarity(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new HornbeamException(HornbeamError.InvalidInput, "similarity needs two vectors of one length.");
        var norms = Math.Sqrt(a.Sum(x => x * x)) * Math.Sqrt(b.Sum(x => x * x));
        return norms == 0 ? 0 : Math.Round(a.Zip(b, (x, y) => x * y).Sum() / norms, 6);
    }

    /// <summary>Action <c>generate</c>: streams up to <paramref name="maxTokens"/> words about <paramref name="prompt"/>.</summary>
    public async IAsyncEnumerable<string> Generate(string prompt, int maxTokens = 8,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string[] words = ["you", "said:", prompt, "and", "this", "sample", "answers", "word", "by", "word."];
        foreach (var word in words.Take(Math.Clamp(maxTokens, 0, words.Length)))
        {
            // A pause between chunks, so a stream shows them arriving one by one.
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
            yield return word;
        }
    }

    /// <summary>Action <c>train</c>: a job that takes a couple of seconds, for <c>/async</c> and <c>GET /tasks/{id}</c>.</summary>
    public async Task<object> TrainAsync(string dataset, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        return new { dataset, epochs = 3, loss = 0.042 };
    }
}
