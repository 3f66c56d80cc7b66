"""The seed's ``hornbeam_ml`` module: ``cached_inference`` runs ``fn`` in this process and caches its result in the
cluster's shared state, where every Python process using the same service finds it; ``cache_stats`` counts them all.

Phase 1 of issue #22 keeps entries and counters in shared state (keys under ``hornbeam_ml:``, see docs/python.md),
because the service's inference cache (``/ml/cached``) only runs hooks; its keys are computed the way the service
computes them, so moving onto cache routes later keeps every key. Two threads of one process missing the same key
compute once; two processes may both compute (single flight across processes needs those routes).
"""

import threading

from hornbeam_client import values
from hornbeam_erlang import state_get, state_get_multi, state_incr, state_keys, state_set

__all__ = ["cached_inference", "cache_stats"]

_ENTRY = "hornbeam_ml:entry:"
_STATS = "hornbeam_ml:stats:"

_flights_lock = threading.Lock()
_flights = {}


def cached_inference(fn, input_data, cache_key=None, cache_prefix="ml"):
    """``fn(input_data)``, or the result cached for that input: under ``cache_key`` verbatim when given, else under
    ``{cache_prefix}:{sha256(canonical JSON of input_data)[:32]}``. Hit and miss both answer the result as JSON reads
    it back (tuples come back as lists). A None result is not cached; an exception in ``fn`` propagates, uncached."""
    if not isinstance(cache_prefix, str) or not cache_prefix or "{" in cache_prefix or "}" in cache_prefix:
        raise ValueError(f"cache_prefix is a non-empty str without '{{' or '}}'; it was {cache_prefix!r}")
    key = cache_key if cache_key is not None else values.cache_key(cache_prefix, input_data)
    if not isinstance(key, str) or not key:
        raise ValueError(f"cache_key is a non-empty str; it was {cache_key!r}")
    entry = f"{_ENTRY}{cache_prefix}:{key}"

    flight = _claim(entry)
    with flight:
        try:
            cached = state_get(entry)
            if cached is not None:
                state_incr(f"{_STATS}{cache_prefix}:hits")
                return cached
            state_incr(f"{_STATS}{cache_prefix}:misses")
            result = fn(input_data)
            if result is None:
                return None
            result = values.decode(values.encode(result))
            state_set(entry, result)
            return result
        finally:
            _release(entry)


def _claim(entry):
    with _flights_lock:
        lock, users = _flights.get(entry, (None, 0))
        lock = lock or threading.Lock()
        _flights[entry] = (lock, users + 1)
        return lock


def _release(entry):
    with _flights_lock:
        lock, users = _flights[entry]
        if users == 1:
            del _flights[entry]
        else:
            _flights[entry] = (lock, users - 1)


def cache_stats(prefix=None):
    """``{'hits', 'misses', 'total', 'hit_rate'}`` of every ``cached_inference`` call made through this service (all
    prefixes, or one); ``hit_rate`` is hits / total, 0.0 when nothing was counted."""
    hits = misses = 0
    scope = _STATS if prefix is None else f"{_STATS}{prefix}:"
    counters = [k for k in state_keys(scope) if k.endswith((":hits", ":misses"))
                and (prefix is None or k.rpartition(":")[0] == f"{_STATS}{prefix}")]
    for key, count in state_get_multi(counters).items():
        if key.endswith(":hits"):
            hits += count or 0
        else:
            misses += count or 0
    total = hits + misses
    return {"hits": hits, "misses": misses, "total": total, "hit_rate": hits / total if total else 0.0}
