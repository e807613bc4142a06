"""Kubernetes resource quantities ("100m", "128Mi", "1e3"), read as the API server reads them.

A port of ParseQuantity in kubernetes/kubernetes
staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go (parseQuantityString, the
fast int64 path and the inf.Dec path) with suffix.go's suffixes. It accepts and refuses
the same strings and gives the same value, exactly, as a decimal.Decimal:

- <sign><digits>[.<digits>]<suffix>: "1.", ".5", "+1.5Ki" and even "", "-" or "." before
  a suffix (no digits: zero) are accepted, as Go does; so is no suffix at all.
- suffixes: binary Ki Mi Gi Ti Pi Ei (powers of 1024), decimal n u m "" k M G T P E,
  and exponents e<int>/E<int> ("1E" alone is 10^18, exa). Anything else is refused, as
  are spaces anywhere (UnmarshalJSON trims them first: see quantity_of).
- the value is rounded up, away from zero, to a whole number of nano units ("0.1n" is
  1n), and a binary-suffixed value is capped at 2^63-1 in magnitude ("9Ei").
- Go keeps the exponent as an int32: "1e4294967296" wraps to 10^0 = 1, as there. Where Go
  would then overflow its inf.Dec scale as well (an exponent within a few digits of
  -2^31, which takes Go unbounded time to round), we give the rounded true value.

Refused input raises ValueError, and nothing else, whatever the input.
"""

from __future__ import annotations

import math
from decimal import MAX_EMAX, MIN_EMIN, ROUND_UP, Context, Decimal

# suffix.go newSuffixer / fastLookup: (base, exponent) per suffix.
DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

_DIGITS = frozenset("0123456789")
_SUFFIX_LETTERS = frozenset("eEinumkKMGTP")  # parseQuantityString's suffix scan
_MAX_INT64 = 2**63 - 1  # maxAllowed
_MAX_INT64_FACTORS = 18  # amount.go maxInt64Factors: decimal digits an int64 surely holds
_NANO_EXPONENT = -9  # Nano: nothing finer is kept
_NANO = Decimal("1e-9")
# Go's unicode.IsSpace, which strings.TrimSpace uses: Python's isspace() less the
# information separators U+001C..U+001F, which Go does not count as space.
_GO_SPACE = "".join(
    c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f"
)


def parse_quantity(text: str) -> Decimal:
    """The exact value of a quantity string, or ValueError when Kubernetes refuses it."""
    if not isinstance(text, str):
        raise ValueError(f"quantity: expected a string, got {type(text).__name__}")
    if text == "":
        raise ValueError("quantity: empty")
    if text == "0":
        return Decimal(0)
    negative, value, num, denom, suffix = _split(text)
    binary = suffix in BINARY_SUFFIXES
    exponent = BINARY_SUFFIXES[suffix] if binary else _decimal_exponent(suffix, text)

    # Go takes an int64 fast path when the digits surely fit; otherwise inf.Dec parses
    # `value` (sign, digits, point), which needs at least one digit.
    if binary:
        precision = 15 - len(num) - exponent * 3 // 10 - 1 if not denom else -1
        scale = 0
    else:
        precision = _MAX_INT64_FACTORS - len(num) - len(denom)
        scale = exponent
    fast = precision >= 0 and scale - len(denom) >= _NANO_EXPONENT
    if not fast and not any(c in _DIGITS for c in value):
        raise ValueError(f"quantity {text!r}: no digits")

    digits = num + denom
    context = Context(prec=len(digits) + 40, Emax=MAX_EMAX, Emin=MIN_EMIN)
    if binary:
        amount = context.multiply(Decimal(f"{digits}E-{len(denom)}"), Decimal(2**exponent))
    else:
        amount = Decimal(f"{digits}E{exponent - len(denom)}")
    exp = amount.as_tuple().exponent
    if isinstance(exp, int) and exp < _NANO_EXPONENT:
        amount = amount.quantize(_NANO, rounding=ROUND_UP, context=context)
    if binary and amount > _MAX_INT64:
        amount = Decimal(_MAX_INT64)
    if amount == 0:
        return Decimal(0)
    return -amount if negative else amount


def quantity_float(text: str) -> float:
    """parse_quantity as a float (inf beyond float range); ValueError when refused."""
    return float(parse_quantity(text))


def quantity_of(value: object) -> Decimal | None:
    """A quantity from JSON: a string (trimmed, as Quantity.UnmarshalJSON does) or a
    number (the API's OpenAPI allows both); None for anything Kubernetes would refuse."""
    if isinstance(value, str):
        text = value.strip(_GO_SPACE)
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        text = repr(value)
    else:
        return None
    try:
        return parse_quantity(text)
    except ValueError:
        return None


def _split(text: str) -> tuple[bool, str, str, str, str]:
    """parseQuantityString: (negative, value, num, denom, suffix); ValueError when the
    characters after the number are not <letters>[sign]<digits>."""
    end = len(text)
    pos = 0
    negative = text[0] == "-"
    if text[0] in "+-":
        pos = 1
    while pos < end and text[pos] == "0":  # leading zeros
        pos += 1
    if pos >= end:
        return negative, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return negative, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return negative, text, num, denom, ""
    value, suffix_start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_LETTERS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(f"quantity {text!r}: not <number><suffix>")
    return negative, value, num, denom, text[suffix_start:]


def _decimal_exponent(suffix: str, text: str) -> int:
    """suffixHandler.interpret for a non-binary suffix: its power of ten."""
    if suffix in DECIMAL_SUFFIXES:
        return DECIMAL_SUFFIXES[suffix]
    rest = suffix[1:]
    body = rest[1:] if rest[:1] in ("+", "-") else rest
    if suffix[:1] in ("e", "E") and body and all(c in _DIGITS for c in body):
        parsed = int(rest) if len(body) <= 20 else 2**64  # strconv.ParseInt(rest, 10, 64)
        if -(2**63) <= parsed <= _MAX_INT64:
            return (parsed + 2**31) % 2**32 - 2**31  # int32(parsed)
    raise ValueError(f"quantity {text!r}: unknown suffix {suffix!r}")
