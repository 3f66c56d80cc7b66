"""Writes Redis protocol that stores N filler state keys in Hornbeam's layout, for `redis-cli --pipe`.

Hornbeam keeps a state key's value at {prefix}{state:B}:v:{key} and indexes the key in the sorted set
{prefix}{state:B}:index, where B is FNV-1a 32-bit of the key's UTF-8 bytes modulo 16, in lowercase hex
(see src/Hornbeam.Core/Redis/RedisKeys.cs). Writing that directly is far faster than a million HTTP PUTs.

usage: python3 fill_keys.py COUNT [KEY_PREFIX] [REDIS_PREFIX] | redis-cli -p PORT --pipe
"""
import sys

BUCKETS = 16
ZADD_BATCH = 500


def bucket(key: bytes) -> int:
    h = 2166136261
    for b in key:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % BUCKETS


def command(*args: bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def main() -> None:
    count = int(sys.argv[1])
    key_prefix = (sys.argv[2] if len(sys.argv) > 2 else "bench:fill:").encode()
    redis_prefix = (sys.argv[3] if len(sys.argv) > 3 else "hornbeam:").encode()
    out = sys.stdout.buffer
    pending: list[list[bytes]] = [[] for _ in range(BUCKETS)]
    index = [redis_prefix + b"{state:%x}:index" % b for b in range(BUCKETS)]

    def flush(b: int) -> None:
        members = pending[b]
        if members:
            args = [b"ZADD", index[b]]
            for m in members:
                args += [b"0", m]
            out.write(command(*args))
            members.clear()

    chunk = []
    for i in range(count):
        key = key_prefix + b"%07d" % i
        b = bucket(key)
        # The value must be JSON, as the API would have stored it.
        chunk.append(command(b"SET", redis_prefix + b"{state:%x}:v:" % b + key, b"1"))
        pending[b].append(key)
        if len(pending[b]) >= ZADD_BATCH:
            flush(b)
        if len(chunk) >= 10000:
            out.write(b"".join(chunk))
            chunk.clear()
    out.write(b"".join(chunk))
    for b in range(BUCKETS):
        flush(b)


if __name__ == "__main__":
    main()
