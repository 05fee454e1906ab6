"""Parquet manifests: written atomically, checked against their schema where read."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmodal import manifests


def track_windows(n=3):
    return pd.DataFrame({
        "track_id": ["01_Jupiter_1_vn"] * n,
        "window_index": range(n),
        "start_s": [k * 0.1 for k in range(n)],
        "frame_index": [3 * k for k in range(n)],
        "frame_time_s": [3 * k / 29.97 for k in range(n)],
        "audio_start": [4410 * k for k in range(n)],
        "audio_stop": [4410 * k + 22050 for k in range(n)],
    })


def test_round_trip_keeps_schema_types_and_values(tmp_path):
    path = tmp_path / "m" / "w.parquet"
    manifests.write(track_windows(), path, "track_windows")
    schema = pq.read_schema(path)
    assert schema.field("window_index").type == pa.int32()
    assert schema.field("audio_start").type == pa.int64()
    back = manifests.read(path, "track_windows")
    assert back["audio_stop"].tolist() == [22050, 26460, 30870]
    assert not list(tmp_path.glob("m/.*tmp"))


def test_missing_and_unexpected_columns_are_named(tmp_path):
    with pytest.raises(manifests.ManifestError, match="frame_index"):
        manifests.write(track_windows().drop(columns="frame_index"), tmp_path / "a.parquet", "track_windows")
    with pytest.raises(manifests.ManifestError, match="extra_col"):
        manifests.write(track_windows().assign(extra_col=1), tmp_path / "a.parquet", "track_windows")
    assert not (tmp_path / "a.parquet").exists()


def test_an_arrow_table_is_written_as_the_same_manifest_and_checked_alike(tmp_path):
    # Extraction writes Arrow tables (no pandas in its process): same file, same checks.
    table = pa.Table.from_pandas(track_windows(), preserve_index=False)  # int64 columns, other order below
    manifests.write(table.select(list(reversed(table.column_names))), tmp_path / "a.parquet", "track_windows")
    manifests.write(track_windows(), tmp_path / "b.parquet", "track_windows")
    assert pq.read_table(tmp_path / "a.parquet").equals(pq.read_table(tmp_path / "b.parquet"))
    with pytest.raises(manifests.ManifestError, match=r"c\.parquet.*missing column.*frame_index"):
        manifests.write(table.drop_columns(["frame_index"]), tmp_path / "c.parquet", "track_windows")
    with pytest.raises(manifests.ManifestError, match="unexpected column.*extra_col"):
        manifests.write(table.append_column("extra_col", pa.array([1, 2, 3])), tmp_path / "c.parquet", "track_windows")
    nulls = table.set_column(2, "start_s", pa.array([0.0, None, 0.2]))
    with pytest.raises(manifests.ManifestError, match="'start_s' is empty in row 1"):
        manifests.write(nulls, tmp_path / "c.parquet", "track_windows")
    words = table.set_column(1, "window_index", pa.array(["a", "b", "c"]))
    with pytest.raises(manifests.ManifestError, match="does not fit the track_windows schema"):
        manifests.write(words, tmp_path / "c.parquet", "track_windows")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]


def test_a_table_from_numpy_buffers_equals_the_dataframe_path_and_refuses_what_it_cannot_hold():
    import numpy as np

    df = track_windows()
    columns = {name: df[name].to_numpy() for name in df.columns if name != "track_id"}
    table = manifests.table_from_numpy({"track_id": "01_Jupiter_1_vn", **columns}, "track_windows")
    assert table.equals(manifests.to_table(df, "track_windows"))
    with pytest.raises(manifests.ManifestError, match="unequal"):
        manifests.table_from_numpy({**columns, "start_s": np.zeros(5)}, "track_windows")
    with pytest.raises(manifests.ManifestError, match="unexpected column.*extra_col"):
        manifests.table_from_numpy({**columns, "extra_col": np.zeros(3)}, "track_windows")
    with pytest.raises(manifests.ManifestError, match="missing column.*track_id"):
        manifests.table_from_numpy(columns, "track_windows")
    with pytest.raises(manifests.ManifestError, match="'track_id'.*constant string"):
        manifests.table_from_numpy({"track_id": np.array(["a", "b", "c"]), **columns}, "track_windows")


def test_reader_refuses_wrong_types_and_names_the_file(tmp_path):
    table = manifests.to_table(track_windows(), "track_windows")
    i = table.schema.get_field_index("window_index")
    table = table.set_column(i, "window_index", table["window_index"].cast(pa.float64()))
    path = tmp_path / "w.parquet"
    pq.write_table(table, path)
    with pytest.raises(manifests.ManifestError, match=r"w\.parquet.*window_index"):
        manifests.read(path, "track_windows")


def test_reader_refuses_unknown_split_values(tmp_path):
    windows = track_windows().assign(
        window_id=range(3), piece="01_Jupiter_vn_vc", instrument="violin", label=12, take_id="t1",
        split=["train", "validation", "test"], frames_path="f.npy", audio_path="a.npy")
    path = tmp_path / "windows.parquet"
    # Written past the checking writer (as a hand-edited file would be), then read back.
    pq.write_table(pa.Table.from_pandas(windows[manifests.WINDOWS_SCHEMA.names], schema=manifests.WINDOWS_SCHEMA,
                                        preserve_index=False), path)
    with pytest.raises(manifests.ManifestError, match=r"windows\.parquet.*'split' holds \['validation'\]"):
        manifests.read(path, "windows")
    # The writer refuses the same table and leaves no file.
    with pytest.raises(manifests.ManifestError, match="validation"):
        manifests.write(windows, tmp_path / "out.parquet", "windows")
    assert not (tmp_path / "out.parquet").exists()
    manifests.write(windows.assign(split="test"), tmp_path / "out.parquet", "windows")
    assert manifests.read(tmp_path / "out.parquet", "windows")["split"].tolist() == ["test"] * 3


def test_reader_names_missing_and_corrupt_files(tmp_path):
    with pytest.raises(manifests.ManifestError, match="does not exist"):
        manifests.read(tmp_path / "none.parquet", "windows")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(manifests.ManifestError, match="junk.parquet"):
        manifests.read(tmp_path / "junk.parquet", "windows")
