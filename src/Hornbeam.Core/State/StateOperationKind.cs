namespace Hornbeam.State;

/// <summary>What one operation of a transaction does.</summary>
public enum StateOperationKind
{
    /// <summary>Stores a JSON value (state_set).</summary>
    Set,
    /// <summary>Removes the key (state_delete); an absent key is not an error.</summary>
    Delete,
    /// <summary>Adds a 64-bit delta to a counter (state_incr).</summary>
    Increment,
}
