"""How Python values cross as JSON: the one rule, enforced before anything is sent (docs/python.md, "Values")."""

import decimal
import hashlib
import json
import math
import sys

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _numpy_plain(value):
    # numpy is never imported here: if the caller has it loaded, its arrays and scalars cross as lists and numbers.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return value.tolist()
        if isinstance(value, numpy.generic):
            return value.item()
    return value


def plain(value, depth=0):
    """The value as JSON sees it: tuples become lists; bytes, sets, non-str dict keys and other objects are a
    TypeError; NaN, infinities and strings with a lone surrogate are a ValueError (the service refuses non-I-JSON)."""
    if depth > 62:
        raise ValueError("a value nests more than 62 levels; the service refuses it")
    value = _numpy_plain(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number; send None or a string instead")
        return float(value)
    if isinstance(value, str):
        _check_text(value)
        return value
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dict key {key!r} is of type {type(key).__name__}; JSON object keys are strings, so it "
                                "would come back as a different key")
            _check_text(key)
            out[key] = plain(item, depth + 1)
        return out
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("bytes do not cross as JSON; send text (e.g. base64.b64encode(b).decode()) instead")
    raise TypeError(f"a value of type {type(value).__name__} does not cross as JSON; send a dict, list, str, int, float, bool "
                    "or None")


def _check_text(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"the string {text[:40]!r} holds a lone surrogate, which is not Unicode text") from None


def encode(value):
    """The UTF-8 JSON of a value under the rule of ``plain``."""
    return json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode(body):
    return json.loads(body) if body else None


def canonical(value):
    """The server's canonical JSON of a value (src/Hornbeam.Core/Ml/MlCanonicalJson.cs), so a key computed here is the
    key the service computes for the same input."""
    out = []
    _canonical(plain(value), out)
    return "".join(out)


def cache_key(cache_prefix, input_data):
    """``{cache_prefix}:{first 32 hex digits of sha256(canonical JSON of input_data)}``, as the service keys it. Raw
    bytes (an image, a file) are hashed as they are, after a NUL byte no canonical JSON starts with: no JSON client can
    send such an input, and no JSON input shares its key."""
    if isinstance(input_data, (bytes, bytearray, memoryview)):
        digest = hashlib.sha256(b"\x00" + bytes(input_data))
    else:
        digest = hashlib.sha256(canonical(input_data).encode("utf-8"))
    return f"{cache_prefix}:{digest.hexdigest()[:32]}"


def _canonical(value, out):
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value) if _INT64_MIN <= value <= _INT64_MAX else _big(value))
    elif isinstance(value, float):
        out.append(_double(value))
    elif isinstance(value, str):
        _string(value, out)
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canonical(item, out)
        out.append("]")
    else:
        out.append("{")
        # Ordinal order of UTF-16 code units, as .NET's string.CompareOrdinal sorts member names.
        for i, name in enumerate(sorted(value, key=lambda n: n.encode("utf-16-be"))):
            if i:
                out.append(",")
            _string(name, out)
            out.append(":")
            _canonical(value[name], out)
        out.append("}")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text, out):
    out.append('"')
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')


def _big(integer):
    # The service reads an integer beyond 64 bits as a double, and one beyond the double range as written.
    try:
        return _double(float(integer))
    except OverflowError:
        return str(integer)


def _double(number):
    # An integral double in the 64-bit range is written as that integer (1.0 and 1 are one key; -0.0 is 0).
    if number == math.floor(number) and -9223372036854775808.0 <= number < 9223372036854775808.0:
        return str(int(number))
    # Otherwise .NET's double.ToString("R"): the shortest round-trip digits (which repr also finds), in scientific form
    # ('E', a signed exponent of at least two digits) when the point lies more than 4 places left of the first digit or
    # right of the last one; a non-integral double never lies right of its last digit, an integral one here is >= 2^63.
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    digits = "".join(map(str, digits))
    point = len(digits) + exponent - 1
    if -4 <= point < len(digits):
        return format(decimal.Decimal(repr(number)), "f")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}E{'-' if point < 0 else '+'}{abs(point):02d}"
