using Hornbeam.State;
using Hornbeam.Tests.Infrastructure;

namespace Hornbeam.Tests.State;

/// <summary>The same state API for C# callers who embed Hornbeam.Core.</summary>
[Trait("Redis", "Cluster")]
public sealed class StateStoreTests(StateStoreTests.Store store) : IClassFixture<StateStoreTests.Store>
{
    /// <summary>One embedded Core host for the whole class.</summary>
    public sealed class Store : IAsyncLifetime
    {
        private CoreHost _host = null!;
        public IStateStore State { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            _host = await CoreHost.StartAsync();
            State = _host.Get<IStateStore>();
        }

        public async Task DisposeAsync() => await _host.DisposeAsync();
    }

    private readonly IStateStore _state = store.State;

    // The host is shared, so each test (a new instance) works under keys of its own.
    private readonly string _id = Guid.NewGuid().ToString("N");
    private string K(string key) => $"{_id}:{key}";

    private sealed record User(string Name, string Email);

    [Fact]
    public async Task TypedValuesRoundTrip()
    {
        await _state.SetAsync(K("user:123"), new User("Alice", "alice@example.com"));
        Assert.Equal(new User("Alice", "alice@example.com"), await _state.GetAsync<User>(K("user:123")));
        Assert.Null(await _state.GetAsync<User>(K("user:404")));
    }

    [Fact]
    public async Task CountersIncrementAndDecrementAtomically()
    {
        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => _state.IncrementAsync(K("views:/home"))));
        Assert.Equal(110, await _state.IncrementAsync(K("views:/home"), 10));
        Assert.Equal(109, await _state.DecrementAsync(K("views:/home")));
        Assert.Equal(109, await _state.GetAsync<long>(K("views:/home")));
    }

    [Fact]
    public async Task ConcurrentCallsSentToRedisTogetherFailOnlyWhereRedisRefusesThem()
    {
        // Calls made at the same moment share one write to Redis; one refused command must not fail its neighbours.
        await _state.SetAsync(K("batch:text"), "Alice");
        var calls = Enumerable.Range(0, 300).Select(i => i % 100 == 50
            ? _state.IncrementAsync(K("batch:text"))
            : i % 2 == 0
                ? _state.IncrementAsync(K($"batch:n:{i % 10}"))
                : _state.GetJsonAsync(K($"batch:n:{i % 10}")).ContinueWith(_ => 0L)).ToArray();
        await Task.WhenAll(calls).ContinueWith(_ => { });

        var refused = calls.Where(c => c.IsFaulted).ToArray();
        Assert.Equal(3, refused.Length);
        Assert.All(refused, c => Assert.Equal(HornbeamError.Conflict, Assert.IsType<HornbeamException>(c.Exception!.InnerException).Error));
        var total = 0L;
        for (var k = 0; k < 10; k++) total += await _state.GetAsync<long>(K($"batch:n:{k}"));
        Assert.Equal(147, total);
        Assert.Equal("Alice", await _state.GetAsync<string>(K("batch:text")));
    }

    [Fact]
    public async Task CountersBeyondTwoToThe53AnswerTheirExactValue()
    {
        // Lua numbers are doubles; the answer must still be the stored 64-bit value, to the last digit.
        Assert.Equal(9007199254740993, await _state.IncrementAsync(K("big"), 9007199254740993));
        Assert.Equal(9007199254740995, await _state.IncrementAsync(K("big"), 2));
        Assert.Equal(long.MaxValue, await _state.IncrementAsync(K("big"), long.MaxValue - 9007199254740995));
        Assert.Equal(-9007199254740993, await _state.DecrementAsync(K("small"), 9007199254740993));
    }

    [Fact]
    public async Task ConcurrentIncrementsOfOneCounterAnswerAsIfTheyRanOneAfterAnother()
    {
        // Increments of one counter queued together reach Redis as one call of their sum; every caller must still get
        // its own value of one serial history: sorted by answer, each answer less its delta is the one before it.
        var deltas = Enumerable.Range(1, 300).Select(i => (long)(i % 7 + 1)).ToArray();
        var answers = await Task.WhenAll(deltas.Select(d => _state.IncrementAsync(K("hot"), d)));
        var history = answers.Zip(deltas).OrderBy(a => a.First).ToArray();
        var before = 0L;
        foreach (var (answer, delta) in history)
        {
            Assert.Equal(before, answer - delta);
            before = answer;
        }
        Assert.Equal(deltas.Sum(), await _state.GetAsync<long>(K("hot")));
        Assert.Equal([K("hot")], (await _state.KeysAsync(K("hot"))).Keys);

        // Decrements and increments at once: not added up across signs, and the total is exact.
        await Task.WhenAll(Enumerable.Range(0, 300)
            .Select(i => i % 3 == 0 ? _state.DecrementAsync(K("hot"), 2) : _state.IncrementAsync(K("hot"))));
        Assert.Equal(deltas.Sum() + 200 - 200, await _state.GetAsync<long>(K("hot")));
    }

    [Fact]
    public async Task ConcurrentIncrementsPastTheLimitFailExactlyWhereOneByOneTheyWould()
    {
        // Added up, eight increments of 1 overflow; one after another, three fit and five do not.
        await _state.IncrementAsync(K("near-max"), long.MaxValue - 3);
        var calls = Enumerable.Range(0, 8).Select(_ => _state.IncrementAsync(K("near-max"))).ToArray();
        await Task.WhenAll(calls).ContinueWith(_ => { });
        Assert.Equal([long.MaxValue - 2, long.MaxValue - 1, long.MaxValue],
            calls.Where(c => c.IsCompletedSuccessfully).Select(c => c.Result).Order());
        Assert.All(calls.Where(c => c.IsFaulted),
            c => Assert.Equal(HornbeamError.Conflict, Assert.IsType<HornbeamException>(c.Exception!.InnerException).Error));
        Assert.Equal(long.MaxValue, await _state.GetAsync<long>(K("near-max")));

        // Text is refused to every caller alike, and stays as it was.
        await _state.SetAsync(K("text"), "Alice");
        var refused = Enumerable.Range(0, 8).Select(_ => _state.IncrementAsync(K("text"))).ToArray();
        await Task.WhenAll(refused).ContinueWith(_ => { });
        Assert.All(refused, c => Assert.Equal(HornbeamError.Conflict, Assert.IsType<HornbeamException>(c.Exception!.InnerException).Error));
        Assert.Equal("Alice", await _state.GetAsync<string>(K("text")));
    }

    [Fact]
    public async Task KeysMadeByConcurrentIncrementsAndSetsAreAllListed()
    {
        // Concurrent writes share one script call in Redis; each new key must still get its index entry.
        await Task.WhenAll(Enumerable.Range(0, 200)
            .Select(i => i % 2 == 0 ? _state.IncrementAsync(K($"made:{i:d3}")) : _state.SetAsync(K($"made:{i:d3}"), i)));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => K($"made:{i:d3}")), (await _state.KeysAsync(K("made:"), limit: 200)).Keys);
        Assert.Equal(7L, await _state.GetAsync<long>(K("made:007")));
        Assert.Equal(1L, await _state.GetAsync<long>(K("made:008")));
    }

    [Fact]
    public async Task IncrementOfTextThrowsConflictAndKeepsTheValue()
    {
        await _state.SetAsync(K("name"), "Alice");
        var error = await Assert.ThrowsAsync<HornbeamException>(() => _state.IncrementAsync(K("name")));
        Assert.Equal(HornbeamError.Conflict, error.Error);
        Assert.Equal("Alice", await _state.GetAsync<string>(K("name")));
    }

    [Fact]
    public async Task GetManyAndKeysMirrorTheSeed()
    {
        await _state.SetAsync(K("user:1"), 1);
        await _state.SetAsync(K("user:2"), 2);
        var many = await _state.GetManyJsonAsync([K("user:1"), K("user:2"), K("user:3")]);
        Assert.Equal("1"u8.ToArray(), many[K("user:1")]);
        Assert.Null(many[K("user:3")]);
        Assert.Equal([K("user:1"), K("user:2")], (await _state.KeysAsync(K("user:"))).Keys);
        await _state.DeleteAsync(K("user:1"));
        Assert.Equal([K("user:2")], (await _state.KeysAsync(K("user:"))).Keys);
    }

    [Fact]
    public async Task SetJsonRefusesInvalidJsonWithoutWriting()
    {
        var error = await Assert.ThrowsAsync<HornbeamException>(() => _state.SetJsonAsync(K("doc"), "{nope"u8.ToArray()));
        Assert.Equal(HornbeamError.InvalidInput, error.Error);
        Assert.Null(await _state.GetJsonAsync(K("doc")));
    }

    [Fact]
    public async Task ACounterWithALifetimeOfMillisecondsExpiresAndRestarts()
    {
        var key = K("window");
        Assert.Equal(3, await _state.IncrementAsync(key, 3, TimeSpan.FromMilliseconds(300)));
        Assert.Equal(4, await _state.IncrementAsync(key, 1, TimeSpan.FromMinutes(5)));
        Assert.InRange((await _state.GetItemAsync(key))!.TimeToLive!.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(300));
        await Poll.UntilAsync(async () => await _state.GetItemAsync(key) is null, because: "the window ends after 300 ms");
        Assert.Empty((await _state.KeysAsync(K("window"))).Keys);
        Assert.Equal(3, await _state.IncrementAsync(key, 3, TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task ConditionalWritesThrowPreconditionFailedAndChangeNothing()
    {
        var key = K("doc");
        var first = await _state.SetJsonAsync(key, "1"u8.ToArray(), new StateSetOptions { IfNoneMatch = "*" });
        Assert.Equal(first, (await _state.GetItemAsync(key))!.ETag);
        var error = await Assert.ThrowsAsync<HornbeamException>(() =>
            _state.SetJsonAsync(key, "2"u8.ToArray(), new StateSetOptions { IfNoneMatch = "*" }));
        Assert.Equal(HornbeamError.PreconditionFailed, error.Error);

        var second = await _state.SetJsonAsync(key, "2"u8.ToArray(), new StateSetOptions { IfMatch = first });
        Assert.NotEqual(first, second);
        error = await Assert.ThrowsAsync<HornbeamException>(() => _state.DeleteAsync(key, first));
        Assert.Equal(HornbeamError.PreconditionFailed, error.Error);
        Assert.Equal("2"u8.ToArray(), await _state.GetJsonAsync(key));
        await _state.DeleteAsync(key, second);
        Assert.Null(await _state.GetJsonAsync(key));
    }

    [Fact]
    public async Task ATransactionAppliesAllOrNothing()
    {
        var (items, count) = ($"{{{_id}}}:items", $"{{{_id}}}:count");
        var results = await _state.TransactAsync(
            [StateOperation.Set(items, "[1]"u8.ToArray()), StateOperation.Increment(count, 2), StateOperation.Increment(count)]);
        Assert.Equal([null, 2L, 3L], results.Select(r => r.Value));
        Assert.Equal((await _state.GetItemAsync(count))!.ETag, results[2].ETag);

        var error = await Assert.ThrowsAsync<HornbeamException>(() => _state.TransactAsync(
            [StateOperation.Delete(count), StateOperation.Set(items, "[2]"u8.ToArray(), ifMatch: results[2].ETag)]));
        Assert.Equal(HornbeamError.PreconditionFailed, error.Error);
        Assert.Equal(3, await _state.GetAsync<long>(count));
        Assert.Equal("[1]"u8.ToArray(), await _state.GetJsonAsync(items));
    }

    [Fact]
    public async Task BulkSetAnswersEachKeyOnItsOwn()
    {
        var results = await _state.SetManyJsonAsync(new Dictionary<string, ReadOnlyMemory<byte>>
        {
            [K("a")] = "1"u8.ToArray(),
            [K("b")] = "{nope"u8.ToArray(),
        });
        Assert.Equal((await _state.GetItemAsync(K("a")))!.ETag, results[K("a")].ETag);
        Assert.Equal(HornbeamError.InvalidInput, results[K("b")].Error!.Error);
        Assert.Null(await _state.GetJsonAsync(K("b")));
    }
}
