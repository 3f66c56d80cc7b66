namespace Hornbeam.Tests.Browser;

/// <summary>
/// A test that runs in Chromium: skipped, with the reason, on a machine without node, chromium or the npm packages,
/// unless <c>HORNBEAM_BROWSER_TESTS=required</c> (set by .ci/run), where the missing piece fails the test instead.
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (BrowserHarness.Missing is { } missing && Environment.GetEnvironmentVariable("HORNBEAM_BROWSER_TESTS") != "required")
            Skip = $"Browser tests need {missing}.";
    }
}
