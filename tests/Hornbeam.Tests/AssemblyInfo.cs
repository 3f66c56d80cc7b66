// Test classes run three at a time, more than the cores CI has: most of a test's time goes to waiting on Redis, on other
// hosts and on the lifetimes and timeouts it checks, not to the CPU. The latency-sensitive fault tests are in
// tests/Hornbeam.EndToEnd.Tests, which keeps its own setting.
[assembly: CollectionBehavior(MaxParallelThreads = 3)]
