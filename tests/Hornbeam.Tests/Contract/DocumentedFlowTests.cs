using System.Net;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.Contract;

/// <summary>The flows the OpenAPI document links (issue 20) work as written: the links' expressions lead where they say.</summary>
public sealed class DocumentedFlowTests(BadInputHost host) : IClassFixture<BadInputHost>
{
    private HttpClient Client => host.Client;

    [Fact]
    public async Task AnAsyncAnswersLocationIsTheTaskItsBodyNamesAndLeadsToTheResult()
    {
        var accepted = await Client.PostAsync("/hooks/echo/add/async", Http.Json("""{"args": [2, 3]}"""));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        // The link's parameter is $response.body#/task_id; the Location header names the same task.
        var taskId = (await accepted.ReadJsonAsync()).GetProperty("task_id").GetString();
        Assert.Equal($"/tasks/{taskId}", accepted.Headers.Location?.OriginalString);

        var done = await Client.GetAsync($"{accepted.Headers.Location}?timeout_ms=10000");
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Equal(5, (await done.ReadJsonAsync()).GetProperty("result").GetInt64());
    }

    [Fact]
    public async Task AStateSetsLinkReadsBackTheValueUnderTheSameKey()
    {
        var key = $"flow:{Guid.NewGuid():N}";
        Assert.Equal(HttpStatusCode.NoContent, (await Client.PutAsync($"/state/{key}", Http.Json("[1,2]"))).StatusCode);
        // $request.path.key: the GET takes the key exactly as the PUT's path held it.
        var read = await (await Client.GetAsync($"/state/{key}")).ReadJsonAsync();
        Assert.Equal("[1,2]", read.GetProperty("value").GetRawText());
    }
}
