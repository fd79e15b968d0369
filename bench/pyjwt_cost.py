"""PyJWT's own decode cost per algorithm, measured in-process with timeit.

`python -m bench.pyjwt_cost` prints JSON: microseconds per `jwt.decode` (the median and the best
of several repeats) with key objects built once, as a careful verifier does.
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.types import Options

from bench.tokens import BenchKeys, mint

_REPEATS = 7


def _decoders(keys: BenchKeys) -> dict[str, Callable[[], Any]]:
    hs_token = mint(keys, "HS256")
    ed_token = mint(keys, "EdDSA")
    private = serialization.load_pem_private_key(keys.ed_private_pem, password=None)
    public = private.public_key()
    hs_key = keys.hs_secret.encode()
    options: Options = {"require": ["exp", "sub"]}

    def hs256() -> Any:
        return jwt.decode(hs_token, hs_key, algorithms=["HS256"], options=options)

    def eddsa() -> Any:
        return jwt.decode(
            ed_token,
            public,  # type: ignore[arg-type]
            algorithms=["EdDSA"],
            audience=keys.issuer,
            issuer=keys.issuer,
            options=options,
        )

    return {"HS256": hs256, "EdDSA": eddsa}


def measure(keys: BenchKeys) -> dict[str, dict[str, float]]:
    """µs per decode for each algorithm: median and best of `_REPEATS` timeit repeats."""
    results: dict[str, dict[str, float]] = {}
    for alg, decode in _decoders(keys).items():
        decode()  # fail loudly here rather than inside timeit
        timer = timeit.Timer(decode)
        number, _ = timer.autorange()
        per_call = [t / number * 1e6 for t in timer.repeat(repeat=_REPEATS, number=number)]
        results[alg] = {"median_us": statistics.median(per_call), "best_us": min(per_call)}
    return results


def main() -> None:
    keys = BenchKeys.generate("http://127.0.0.1:9")
    print(json.dumps(measure(keys)))


if __name__ == "__main__":
    main()
