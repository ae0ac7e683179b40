from __future__ import annotations

from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare


def _fp(*items: tuple[str, str, int, str]) -> Fingerprint:
    return Fingerprint(FingerprintItem(*i) for i in items)


def test_summary_is_order_independent_and_roundtrips() -> None:
    a = _fp(("db0", "k1", 1, "x"), ("db0", "k2", 1, "y"), ("db1", "k", 1, "z"))
    b = _fp(("db1", "k", 1, "z"), ("db0", "k2", 1, "y"), ("db0", "k1", 1, "x"))
    assert a.summary() == b.summary()
    assert a.summary().groups["db0"].items == 2
    assert Fingerprint.from_jsonl(a.to_jsonl()).summary() == a.summary()


def test_detail_is_not_compared() -> None:
    a = Fingerprint([FingerprintItem("b", "k", 3, "d", detail="etag-1")])
    b = Fingerprint([FingerprintItem("b", "k", 3, "d", detail="etag-2")])
    assert compare(a, b).match


def test_compare_names_what_differs() -> None:
    expected = _fp(
        ("app", "public.users", 500, "rows:1"),
        ("app", "public.orders", 10, "rows:2"),
        ("app", "public.gone", 1, "rows:3"),
    )
    observed = _fp(
        ("app", "public.users", 499, "rows:1"),
        ("app", "public.orders", 10, "rows:9"),
        ("app", "public.extra", 1, "rows:4"),
    )
    result = compare(expected, observed)
    assert not result.match
    assert (result.missing, result.unexpected, result.changed) == (1, 1, 2)
    assert "app/public.users: size 499 instead of 500" in result.examples
    assert "app/public.orders: content differs" in result.examples
    assert "app/public.gone: missing after restore" in result.examples


def test_keys_with_odd_bytes_survive_jsonl() -> None:
    odd = 'caf\udce9\n"key"'
    fp = Fingerprint([FingerprintItem("db0", odd, 1, "d")])
    assert Fingerprint.from_jsonl(fp.to_jsonl()).items[0].name == odd
