namespace Hornbeam.Tests.Infrastructure;

/// <summary>Waits for an asynchronous effect by polling with a deadline, never by a fixed sleep.</summary>
public static class Poll
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Condition not met in time: {because ?? "(no description)"}");
            await Task.Delay(20);
        }
    }
}
