"""URMP naming: every real piece name parses, quirks are handled, bad names are refused."""

import pytest

from crossmodal import urmp


def test_all_44_real_piece_names_parse_with_their_part_counts():
    pieces = urmp.load_piece_list()
    assert len(pieces) == 44
    parsed = {name: urmp.parse_piece_dir(name) for name in pieces}
    assert all(p.dir_name == name for name, p in parsed.items())
    sizes = [len(p.codes) for p in parsed.values()]
    # 11 duets, 12 trios, 14 quartets, 7 quintets; 149 tracks.
    assert [sizes.count(n) for n in (2, 3, 4, 5)] == [11, 12, 14, 7]
    assert sum(sizes) == 149
    instruments = {p.instrument(i + 1) for p in parsed.values() for i in range(len(p.codes))}
    assert instruments == set(urmp.INSTRUMENT_NAMES) and len(instruments) == 13


def test_file_codes_differ_from_folder_codes_only_for_surprise_part_3():
    diffs = [
        (name, part + 1)
        for name, abbrs in urmp.load_piece_list().items()
        for part, (abbr, code) in enumerate(zip(abbrs, urmp.parse_piece_dir(name).codes))
        if abbr != code
    ]
    assert diffs == [("15_Surprise_tpt_tpt_tbn", 3)]


def test_surprise_quirk_instrument_comes_from_folder_and_files_are_found(tmp_path):
    piece = urmp.parse_piece_dir("15_Surprise_tpt_tpt_tbn")
    assert piece.instrument(3) == "trombone"
    assert piece.track_id(3) == "15_Surprise_3_tbn"
    folder = tmp_path / piece.dir_name
    folder.mkdir()
    (folder / "AuSep_3_tpt_15_Surprise.wav").write_bytes(b"")
    assert piece.part_file_name("AuSep", 3, abbr="tpt") == "AuSep_3_tpt_15_Surprise.wav"
    assert urmp.find_part_file(folder, piece, "AuSep", 3).name == "AuSep_3_tpt_15_Surprise.wav"
    assert urmp.find_part_file(folder, piece, "AuSep", 2) is None


def test_file_names_follow_urmp_layout():
    piece = urmp.parse_piece_dir("01_Jupiter_vn_vc")
    assert piece.video_name() == "Vid_01_Jupiter_vn_vc.mp4"
    assert piece.mix_name() == "AuMix_01_Jupiter_vn_vc.wav"
    assert piece.score_name() == "Sco_01_Jupiter_vn_vc.mid"
    assert piece.part_file_name("AuSep", 2) == "AuSep_2_vc_01_Jupiter.wav"
    assert piece.part_file_name("Notes", 1) == "Notes_1_vn_01_Jupiter.txt"
    assert piece.part_file_name("F0s", 1) == "F0s_1_vn_01_Jupiter.txt"


@pytest.mark.parametrize("bad", ["Supplementary_Files", "1_Jupiter_vn", "01_Jupiter", "01-Jupiter_vn_vc"])
def test_non_piece_names_are_refused_with_the_name(bad):
    with pytest.raises(urmp.URMPLayoutError, match=bad):
        urmp.parse_piece_dir(bad)


def test_unknown_instrument_code_is_refused_naming_it():
    with pytest.raises(urmp.URMPLayoutError, match="pno"):
        urmp.parse_piece_dir("50_Sonata_vn_pno")


def test_list_piece_dirs_skips_supplementary_and_stray_entries(tmp_path):
    for name in ["02_Sonata_vn_vn", "01_Jupiter_vn_vc", "Supplementary_Files", "notes"]:
        (tmp_path / name).mkdir()
    (tmp_path / "README.txt").write_text("x")
    assert [p.name for p in urmp.list_piece_dirs(tmp_path)] == ["01_Jupiter_vn_vc", "02_Sonata_vn_vn"]


def test_root_above_dataset_names_the_dataset_folder_below_and_the_config_fix(tmp_path):
    (tmp_path / "urmp" / "Dataset" / "01_Jupiter_vn_vc").mkdir(parents=True)
    (tmp_path / "urmp" / "docs").mkdir()
    dataset = tmp_path / "urmp" / "Dataset"
    with pytest.raises(urmp.URMPLayoutError) as err:
        urmp.list_piece_dirs(tmp_path / "urmp")
    assert f"{dataset} below it does: set data.local_root: {dataset}" in str(err.value)
    with pytest.raises(urmp.URMPLayoutError, match=f"set data.local_root: {dataset}"):
        urmp.list_piece_dirs(tmp_path)  # two levels up


def test_empty_or_missing_root_is_an_error_naming_it(tmp_path):
    with pytest.raises(urmp.URMPLayoutError, match="holds no piece"):
        urmp.list_piece_dirs(tmp_path)
    with pytest.raises(urmp.URMPLayoutError, match="does not exist"):
        urmp.list_piece_dirs(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(urmp.URMPLayoutError, match="not a folder"):
        urmp.list_piece_dirs(tmp_path / "file.txt")
