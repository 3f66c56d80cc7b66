"""A Python process that serves hooks to the cluster, as a test's second process: the seed's three handler kinds under
``{name}-function``, ``{name}-class`` and ``{name}-instance``. Run as ``python hook_worker_process.py URL API_KEY NAME``;
it prints ``ready`` once every hook is registered, then serves until killed."""

import math
import sys
import time

import hornbeam_client
from hornbeam_erlang import register_hook, state_set


def _encode(text):
    return [float(len(text)), float(sum(map(ord, text)) % 97)]


def cosine_sim(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# Function handler, as the seed's my_handler
def my_handler(action, *args, **kwargs):
    if action == "encode":
        return _encode(args[0])
    elif action == "similarity":
        return cosine_sim(args[0], args[1])
    elif action == "fail":
        raise ValueError(f"cannot {args[0]}")
    raise LookupError(f"no action {action}")


# Class handler, as the seed's EmbeddingService: instantiated once, then the method per action
class EmbeddingService:
    def __init__(self):
        self.model = _encode

    def encode(self, text):
        return self.model(text)

    def similarity(self, a, b):
        return cosine_sim(a, b)

    def generate(self, prompt, max_tokens=3):
        for i in range(max_tokens):
            yield f"{prompt}-{i}"

    def train(self, marker, seconds=0):
        # Says it started (so a test can kill this process mid-task), then works.
        state_set(marker, "started")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return {"trained": marker}


# Instance handler: one object, its methods per action
class Counter:
    def __init__(self):
        self.count = 0

    def add(self, n=1):
        self.count += n
        return self.count


if __name__ == "__main__":
    url, key, name = sys.argv[1:4]
    hornbeam_client.configure(url=url, api_key=key)
    register_hook(f"{name}-function", my_handler)
    register_hook(f"{name}-class", EmbeddingService)
    register_hook(f"{name}-instance", Counter())
    print("ready", flush=True)
    hornbeam_client.serve_forever()
