"""The seed's ``hornbeam_ml`` module on the service's inference cache: ``cached_inference`` runs ``fn`` in this process
and caches its result where every replica, every Python process and ``IMlCache`` in C# find it (docs/ml.md, "A
function the caller runs"); ``cache_stats`` reads the service's counters.

A call looks the key up (``POST /ml/cache/lookup``): a hit answers the cached result; a miss answers a claim, and only
the caller holding it runs ``fn``, then stores the result (``POST /ml/cache/store``) or, when ``fn`` raises or answers
None, releases the claim (``POST /ml/cache/release``). A caller missing a key another one holds waits on the service for
that result, so two processes (or threads) missing one key at once compute once.
"""

from hornbeam_client import transport, values
from hornbeam_client.errors import HornbeamError

__all__ = ["cached_inference", "cache_stats"]


def cached_inference(fn, input_data, cache_key=None, cache_prefix="ml"):
    """``fn(input_data)``, or the result cached for that input: under ``cache_key`` verbatim when given, else under
    ``{cache_prefix}:{sha256(canonical JSON of input_data)[:32]}``, the key the service computes. Hit and miss both
    answer the result as JSON reads it back (tuples come back as lists). A None result is not cached; an exception in
    ``fn`` propagates, uncached."""
    if not isinstance(cache_prefix, str) or not cache_prefix or "{" in cache_prefix or "}" in cache_prefix:
        raise ValueError(f"cache_prefix is a non-empty str without '{{' or '}}'; it was {cache_prefix!r}")
    # The key is computed here, so only the key crosses the wire, however large the input.
    key = cache_key if cache_key is not None else values.cache_key(cache_prefix, input_data)
    if not isinstance(key, str) or not key:
        raise ValueError(f"cache_key is a non-empty str; it was {cache_key!r}")

    found = transport.request("POST", "/ml/cache/lookup", body={"cache_key": key, "cache_prefix": cache_prefix},
                              has_body=True).json()
    if found["cached"]:
        return found["result"]
    claim = found.get("claim")
    try:
        result = fn(input_data)
        result = None if result is None else values.plain(result)
    except BaseException:
        _release(key, cache_prefix, claim)
        raise
    if result is None:
        _release(key, cache_prefix, claim)
        return None
    # Storing is idempotent (docs/ml.md), so a store lost with its connection may be sent again.
    transport.request("POST", "/ml/cache/store", body={"cache_key": key, "cache_prefix": cache_prefix, "claim": claim,
                                                       "result": result}, has_body=True, replayable=True)
    return result


def _release(key, cache_prefix, claim):
    # No claim (the wait for another caller ran out) holds nothing to release.
    if claim is None:
        return
    try:
        transport.request("POST", "/ml/cache/release", body={"cache_key": key, "cache_prefix": cache_prefix,
                                                             "claim": claim}, has_body=True, replayable=True)
    except HornbeamError:
        # The claim ends with its lease anyway; what the caller must see is why fn gave no result.
        pass


def cache_stats(prefix=None):
    """The service's counters (``GET /ml/cache/stats``) of every cached inference in the cluster, whichever replica,
    process or language made it: ``{'hits', 'misses', 'total', 'hit_rate', 'prefixes': {prefix: {...}}}`` over all
    prefixes, or over ``prefix`` only; ``hit_rate`` is hits / total, 0.0 when nothing was counted."""
    stats = transport.request("GET", "/ml/cache/stats", query=None if prefix is None else {"prefix": prefix}).json()
    # JSON writes 0.0 as 0: the seed's hit_rate is a float, whatever the counts.
    for counts in [stats, *stats.get("prefixes", {}).values()]:
        counts["hit_rate"] = float(counts["hit_rate"])
    return stats
