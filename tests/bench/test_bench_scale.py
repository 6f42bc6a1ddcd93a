"""bench/bench_scale.py runs end to end on a small input and its last line has the required shape, with
the serving figures measured in the child (its own peak memory) and the raw store readable as Parquet."""

from __future__ import annotations

import re

import numpy as np
import pyarrow.dataset as ds

from bench import bench_scale, scale_import

LINE = re.compile(
    r"^scale: rows=(\d+) first_render_s=([\d.]+) window_change_s=([\d.]+) performance_tab_s=([\d.]+) "
    r"estimated_tab_s=([\d.]+) peak_rss_mib=(\d+) ingest_rows_s=(\d+)$"
)


def test_last_line_and_raw_store(tmp_path, capsys):
    args = ["--rows", "9000", "--days", "42", "--out", str(tmp_path), "--import-rows", "2000"]
    assert bench_scale.main(args) == 0
    out = capsys.readouterr().out
    # the import comparison ran, each step in its own process, on the rows asked for
    assert "import of 2,000 predictions from one Parquet file" in out
    for step in scale_import.STEPS.values():
        assert re.search(rf"{re.escape(step)} +wall +[\d.]+ s = +[\d,]+ rows/s; CPU", out), step
    assert re.search(r"\(c\) / \(a\) +wall x *[\d.]+, CPU x *[\d.]+", out)
    last = out.strip().splitlines()[-1]
    m = LINE.match(last)
    assert m, last
    assert int(m.group(1)) == 9000 and int(m.group(7)) > 0
    assert 50 < int(m.group(6)) < 2000  # a python process with pandas and scipy, not the parent's peak
    raw = ds.dataset(tmp_path / "scale-9000-42" / "store" / "raw", format="parquet", partitioning="hive").to_table()
    assert raw.num_rows == 9000 and "label" in raw.column_names
    # an unknown outcome is a null (what SQL engines count as missing), never a NaN
    label = raw.column("label")
    assert label.null_count > 0
    assert label.null_count == np.isnan(label.to_numpy(zero_copy_only=False)).sum()  # no NaN besides the nulls
    assert len(list((tmp_path / "scale-9000-42" / "store" / "summaries").rglob("*.npz"))) == 42
