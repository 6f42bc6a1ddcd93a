"""app/query_values.known_values: several values of one URL parameter, repeated or comma-joined."""

from app.query_values import known_values

KNOWN = ["android", "ios", "web", "Paris, FR"]


def test_repeated_and_comma_joined_values_are_read_in_order_without_repeats():
    assert known_values(["ios", "android"], KNOWN, 50) == ["ios", "android"]
    assert known_values(["ios,android"], KNOWN, 50) == ["ios", "android"]
    assert known_values(["web, ios", "ios", "tv"], KNOWN, 50) == ["web", "ios"]


def test_a_known_value_with_a_comma_is_kept_whole_and_the_count_is_capped():
    assert known_values(["Paris, FR"], KNOWN, 50) == ["Paris, FR"]
    assert known_values(["android,ios,web"], KNOWN, 2) == ["android", "ios"]
    assert known_values([], KNOWN, 50) == [] and known_values(["tv,radio"], KNOWN, 50) == []
