namespace Hornbeam.Api.State;

/// <summary>The operations of a transaction, applied in order, all or none.</summary>
public sealed record StateTransactionRequest(IReadOnlyList<StateTransactionOperation> Operations);
