"""Kubernetes resource quantities, parsed as apimachinery's ParseQuantity parses them.

The tables mirror kubernetes/kubernetes
staging/src/k8s.io/apimachinery/pkg/api/resource/quantity_test.go: TestQuantityParse
(values, and its "invalid" list), TestParseQuantityString ("." and "-.") and the canonical
strings of TestQuantityString.
"""

from decimal import Decimal, localcontext

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from blinkt_agent.sources.kubernetes.quantity import (
    BINARY_SUFFIXES,
    DECIMAL_SUFFIXES,
    parse_quantity,
    quantity_float,
    quantity_of,
)

MAX_INT64 = 2**63 - 1

# TestQuantityParse: input -> decQuantity(mantissa, exponent) as mantissa * 10**exponent
PARSE_TABLE = [
    ("0", 0), ("0n", 0), ("0u", 0), ("0m", 0), ("0Ki", 0), ("0k", 0), ("0Mi", 0), ("0M", 0),
    ("0Gi", 0), ("0G", 0), ("0Ti", 0), ("0T", 0), ("1", 1),
    ("1Ki", 1024), ("8Ki", 8 * 1024), ("7Mi", 7 * 2**20), ("6Gi", 6 * 2**30), ("5Ti", 5 * 2**40),
    ("4Pi", 4 * 2**50), ("3Ei", 3 * 2**60), ("10Ti", 10 * 2**40), ("100Ti", 100 * 2**40),
    ("5n", "5e-9"), ("4u", "4e-6"), ("3m", "3e-3"), ("9", 9), ("8k", 8000), ("50k", 50000),
    ("7M", 7 * 10**6), ("6G", 6 * 10**9), ("5T", 5 * 10**12), ("40T", 4 * 10**13),
    ("300T", 3 * 10**14), ("2P", 2 * 10**15), ("1E", 10**18),
    ("1E-3", "1e-3"), ("1e3", 1000), ("1E6", 10**6), ("1e9", 10**9), ("1E12", 10**12),
    ("1e15", 10**15), ("1E18", 10**18), ("1e14", 10**14), ("1e13", 10**13), ("100.035k", 100035),
    ("0.001", "0.001"), ("0.0005k", "0.5"), ("0.005", "0.005"), ("0.05", "0.05"), ("0.5", "0.5"),
    ("0.00050k", "0.5"), ("0.00500", "0.005"), ("0.05000", "0.05"), ("0.50000", "0.5"),
    ("0.5e0", "0.5"), ("0.5e-1", "0.05"), ("0.5e-2", "0.005"), ("10.035M", 10035000),
    ("1.2e3", 1200), ("1.3E+6", 1300000), ("1.40e9", 1.4e9), ("1.53E12", 1.53e12),
    ("1.6e15", 1.6e15), ("1.7E18", 17 * 10**17), ("9.01", "9.01"), ("8.1k", 8100),
    ("7.123456M", 7123456), ("6.987654321G", 6987654321), ("5.444T", 5444 * 10**9),
    ("40.1T", 401 * 10**11), ("300.2T", 3002 * 10**11), ("2.5P", 25 * 10**14),
    ("1.01E", 101 * 10**16),
    ("3.001n", "4e-9"), ("1.1E-9", "2e-9"), ("0.0000000001", "1e-9"), ("0.0000000005", "1e-9"),
    ("0.00000000050", "1e-9"), ("0.5e-9", "1e-9"), ("0.9n", "1e-9"), ("0.00000012345", "124e-9"),
    ("0.00000012354", "124e-9"), ("9Ei", MAX_INT64), ("9223372036854775807Ki", MAX_INT64),
    ("12E", 12 * 10**18), ("100.035Ki", "10243584e-2"), ("0.5Mi", 2**19),
    ("0.05Gi", "536870912e-1"), ("0.025Ti", "274877906944e-1"),
    ("0.000000000001Ki", "2e-9"), (".001", "0.001"), (".0001k", "0.1"), ("1.", 1), ("1.G", 10**9),
]  # fmt: skip

INVALID = [
    "1.1.M",
    "1+1.0M",
    "0.1mi",
    "0.1am",
    "aoeu",
    ".5i",
    "1i",
    "-3.01i",
    "-3.01e-",
    " 1",
    "1 ",
]


@pytest.mark.parametrize(("text", "value"), PARSE_TABLE, ids=[t for t, _ in PARSE_TABLE])
def test_parse_table_of_apimachinery(text, value):
    expected = Decimal(str(value)) if isinstance(value, float | str) else Decimal(value)
    assert parse_quantity(text) == expected
    assert parse_quantity("-" + text) == -expected  # "Try the negative version of everything"
    assert parse_quantity("+" + text) == expected  # "Try everything with an explicit +"


@pytest.mark.parametrize(
    "text", [*INVALID, "", "1K", "1KiB", "1e", "1e+", "1e1.5", "1e+-3", "1ki", "1Zi"]
)
def test_what_apimachinery_refuses_is_a_value_error(text):
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


def test_a_number_without_digits_is_zero_until_go_takes_its_slow_path():
    # TestParseQuantityString splits "." and "-." into num "0"; Go's int64 path makes it 0,
    # its inf.Dec path (tiny exponents, Pi and Ei) needs a digit.
    assert [parse_quantity(t) for t in (".", "-.", "-", "Ki", "Ti", ".e5", "0e-10")] == [0] * 7
    for text in (".e-10", "Pi", "-Ei", "e-10"):
        with pytest.raises(ValueError, match="no digits"):
            parse_quantity(text)


def test_exponents_wrap_as_gos_int32_does():
    assert parse_quantity("1e4294967296") == 1  # int32(2^32) == 0
    assert parse_quantity("1e9223372036854775807") == Decimal("0.1")  # int32(2^63-1) == -1
    with pytest.raises(ValueError, match="suffix"):
        parse_quantity("1e9223372036854775808")  # beyond int64: ParseInt refuses


def test_binary_values_are_capped_at_max_int64_and_decimal_ones_are_not():
    assert parse_quantity("-9Ei") == -MAX_INT64
    assert parse_quantity("8Ei") == MAX_INT64
    assert parse_quantity("9E") == 9 * 10**18


# TestQuantityString: canonical forms the API server writes
CANONICAL = [
    ("1Gi", 2**30), ("300Mi", 300 * 2**20), ("6Ki", 6144), ("1001Gi", 1001 * 2**30), ("1Ti", 2**40),
    ("5", 5), ("500m", "0.5"), ("1G", 10**9), ("1m", "0.001"), ("80m", "0.08"), ("1080m", "1.08"),
    ("300M", 3 * 10**8), ("1T", 10**12), ("1234567M", 1234567 * 10**6), ("1234567m", "1234.567"),
    ("3k", 3000), ("1025", 1025), ("1e9", 10**9), ("1e-3", "0.001"), ("1e-9", "1e-9"),
    ("80e-3", "0.08"), ("300e6", 3 * 10**8), ("1n", "1e-9"), ("1080n", "1.08e-6"),
    ("1080u", "0.00108"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value"), CANONICAL, ids=[t for t, _ in CANONICAL])
def test_canonical_strings_of_apimachinery_parse_to_their_values(text, value):
    assert parse_quantity(text) == Decimal(value)


suffixes = st.sampled_from([*DECIMAL_SUFFIXES, *BINARY_SUFFIXES, "e3", "e-3", "E6", "e0"])


def factor(suffix: str) -> Decimal:
    if suffix in BINARY_SUFFIXES:
        return Decimal(2 ** BINARY_SUFFIXES[suffix])
    if suffix in DECIMAL_SUFFIXES:
        return Decimal(10) ** DECIMAL_SUFFIXES[suffix]
    return Decimal(10) ** int(suffix[1:])


@given(st.integers(-(10**15), 10**15), suffixes)
@example(1, "Ei")
def test_canonical_forms_round_trip(mantissa, suffix):
    value = mantissa * factor(suffix)
    if suffix in BINARY_SUFFIXES:
        value = max(-MAX_INT64, min(MAX_INT64, value))
    assert parse_quantity(f"{mantissa}{suffix}") == value


@given(st.integers(0, 10**12), st.integers(0, 12), suffixes)
def test_fractions_are_rounded_up_to_whole_nano_units(whole, places, suffix):
    got = parse_quantity(f"{whole}.{'0' * places}1{suffix}")
    with localcontext(prec=100):
        exact = (Decimal(whole) + Decimal(f"1e-{places + 1}")) * factor(suffix)
        if suffix in BINARY_SUFFIXES and exact > MAX_INT64:
            assert got == MAX_INT64
        else:
            assert Decimal(0) <= got - exact < Decimal("1e-9")
    assert got.as_tuple().exponent >= -9  # type: ignore[operator]


alphabet = st.text(st.sampled_from("0123456789.+-eEinumkKMGTP Zx"), max_size=14)


@given(alphabet | st.text(max_size=20))
@example("1e-2147483648")
@example("9" * 5000 + "Ki")
def test_any_text_is_a_value_or_a_value_error(text):
    try:
        value = parse_quantity(text)
    except ValueError:
        return
    assert isinstance(value, Decimal) and value.is_finite()


@given(
    st.none() | st.booleans() | st.integers() | st.floats() | st.lists(st.integers()) | st.binary()
)
def test_anything_not_a_string_is_a_value_error(value):
    with pytest.raises(ValueError):
        parse_quantity(value)


def test_json_values_are_trimmed_strings_or_numbers_and_junk_is_none():
    assert quantity_of(" 128Mi\n") == 128 * 2**20
    assert quantity_of(2) == 2
    assert quantity_of(0.25) == Decimal("0.25")
    assert quantity_of(1e20) == 10**20
    assert [quantity_of(v) for v in (True, None, float("nan"), "lots", {"cpu": 1})] == [None] * 5


def test_float_helper_gives_cores_and_bytes_and_inf_beyond_range():
    assert (quantity_float("250m"), quantity_float("1Gi")) == (0.25, 2**30)
    assert quantity_float("1e400") == float("inf")
