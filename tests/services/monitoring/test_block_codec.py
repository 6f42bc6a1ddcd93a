"""block_codec.parse_json_objects: the joined fast path (no per-row Python loop) gives exactly what the
per-row path gives, on awkward JSON, and steps aside whenever a value is not a one-line object text."""

from __future__ import annotations

import gc
import json

import numpy as np
import pyarrow as pa
import pytest

from services.monitoring import block_codec


def per_row(texts) -> pa.Table:
    """The parser as it was before the fast path: every value through the per-row loop."""
    data = block_codec._lines(texts)
    table = block_codec._read(data, len(texts)) if data is not None else None
    return table if table is not None else block_codec._parse_python(texts)


AWKWARD = {
    "unicode": ['{"city": "Zürich", "name": "日本語", "emoji": "🙂"}', '{"city": "Åre", "name": "x", "emoji": "é"}'],
    "escapes": [
        '{"q": "say \\"hi\\"", "p": "C:\\\\dir", "u": "\\u00e9\\u65e5", "nl": "a\\nb\\tc"}',
        '{"q": "", "p": "/", "u": "plain", "nl": "\\r\\n"}',
    ],  # fmt: skip
    "nested": ['{"a": 1, "obj": {"x": 1}, "arr": [1, 2]}', '{"a": 2, "obj": {"x": 2}, "arr": []}'],
    "nulls": ['{"a": null, "b": "x"}', '{"a": 1.5, "b": null}', '{"a": null, "b": null}'],
    "empty objects": ["{}", '{"a": 1}', "{}", " {}"],
    "numbers as text": ['{"n": "1.5", "i": "007"}', '{"n": "2", "i": "10"}'],
    "ints and floats": ['{"n": 1, "big": 12345678901234}', '{"n": 2.5, "big": -1}', '{"n": -3e-5, "big": 0}'],
    "bools": ['{"b": true, "x": 1}', '{"b": false, "x": 2}'],
    "mixed types": ['{"a": 1}', '{"a": "x"}'],
    "number beyond double": ['{"a": 1e400}', '{"a": 1}'],
    "leading blanks": ['  {"a": 1}', '{"a": 2}'],
    "blank and null texts": ['{"a": 1}', "", "   ", "null", '{"a": 2}'],
    "None and dicts": ['{"a": 1}', None, {"a": 3, "b": "d"}],
    "line breaks": ['{\n "a": 1\n}', '{"a": 2}'],
    "carriage return": ['{"a": 1}\r', '{"a": 2}'],
    "not an object": ['{"a": 1}', "[1, 2]"],
    "a number": ['{"a": 1}', "3"],
}


@pytest.mark.parametrize("case", list(AWKWARD))
def test_the_parser_agrees_with_the_per_row_path(case):
    texts = AWKWARD[case]
    assert block_codec.parse_json_objects(texts).to_pylist() == per_row(texts).to_pylist()
    assert block_codec.parse_json_objects(texts).schema == per_row(texts).schema


ONE_LINE = (
    "unicode",
    "escapes",
    "nested",
    "nulls",
    "numbers as text",
    "ints and floats",
    "bools",
    "mixed types",
    "number beyond double",
)


@pytest.mark.parametrize("case", list(AWKWARD))
def test_the_fast_path_takes_only_one_line_object_texts(case):
    """Clean one-line object texts are joined without a per-row loop; anything else goes to that loop."""
    joined = block_codec._joined(AWKWARD[case])
    if case in ONE_LINE:
        assert joined == "\n".join(AWKWARD[case]).encode("utf-8")
    else:
        assert joined is None


def test_a_large_batch_never_runs_the_per_row_loop(monkeypatch):
    texts = [json.dumps({"x": i * 0.5, "c": f"v{i % 7}", "s": 'ü"é'}) for i in range(5000)]
    expected = per_row(texts)

    def refuse(_texts):
        raise AssertionError("the per-row loop ran")

    monkeypatch.setattr(block_codec, "_lines", refuse)
    got = block_codec.parse_json_objects(texts)
    assert got.to_pylist() == expected.to_pylist()
    assert got.column_names == ["x", "c", "s"] and got.num_rows == 5000


def test_empty_input_gives_an_empty_table():
    assert block_codec.parse_json_objects([]).num_rows == 0


def test_take_picks_positions_in_order_and_shares_the_whole_sequence():
    values = ("a", "b", "c", "d")
    assert block_codec.take(values, np.arange(4)) is values
    assert list(block_codec.take(values, np.array([1, 3]))) == ["b", "d"]
    assert list(block_codec.take(values, np.array([2]))) == ["c"]
    assert list(block_codec.take(values, np.array([], dtype=np.int64))) == []
    assert list(block_codec.take(values, np.array([0, 2, 1, 3]))) == ["a", "c", "b", "d"]  # not range(n)


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with block_codec.gc_paused():
        assert not gc.isenabled()
        with block_codec.gc_paused():  # a second reader's pause inside the first leaves it to the first
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), block_codec.gc_paused():
        raise RuntimeError("a failed read")
    assert gc.isenabled()
