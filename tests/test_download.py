"""URMP download: resumable, verified, atomic transfers and safe extraction, against a local server.

A tiny URMP-like tree (two pieces, small random files) is served over HTTP on 127.0.0.1 by a
handler that supports Range and can inject faults request by request.
"""

import hashlib
import io
import random
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from crossmodal import cli, urmp
from crossmodal.dataset import download

SURPRISE = "15_Surprise_tpt_tpt_tbn"
JUPITER = "01_Jupiter_vn_vc"
# Written out by hand (not built with crossmodal.urmp) so the files-mode test checks the naming.
# Part 3 of 15_Surprise is a trombone per the folder, but its files say ``tpt``.
PIECE_FILES = {
    SURPRISE: [
        "Vid_15_Surprise_tpt_tpt_tbn.mp4", "AuMix_15_Surprise_tpt_tpt_tbn.wav",
        "AuSep_1_tpt_15_Surprise.wav", "AuSep_2_tpt_15_Surprise.wav", "AuSep_3_tpt_15_Surprise.wav",
        "Notes_1_tpt_15_Surprise.txt", "Notes_2_tpt_15_Surprise.txt", "Notes_3_tpt_15_Surprise.txt",
        "F0s_1_tpt_15_Surprise.txt", "F0s_2_tpt_15_Surprise.txt", "F0s_3_tpt_15_Surprise.txt",
        "Sco_15_Surprise_tpt_tpt_tbn.mid",
    ],
    JUPITER: [
        "Vid_01_Jupiter_vn_vc.mp4", "AuMix_01_Jupiter_vn_vc.wav",
        "AuSep_1_vn_01_Jupiter.wav", "AuSep_2_vc_01_Jupiter.wav",
        "Notes_1_vn_01_Jupiter.txt", "Notes_2_vc_01_Jupiter.txt",
        "F0s_1_vn_01_Jupiter.txt", "F0s_2_vc_01_Jupiter.txt",
        "Sco_01_Jupiter_vn_vc.mid",
    ],
}
FAST = {"timeout_s": 5.0, "backoff_s": 0.0}


@pytest.fixture
def tree():
    """``piece/file`` -> bytes; random (incompressible) so the archive is a few tens of kB."""
    rng = random.Random(0)
    return {f"{piece}/{name}": rng.randbytes(rng.randint(1000, 3000))
            for piece, names in PIECE_FILES.items() for name in names}


def make_archive(tree, prefix="Dataset/", extra=()):
    """tar.gz bytes of ``tree`` under ``prefix``, plus ``extra`` (TarInfo, bytes | None) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel, data in [("Supplementary_Files/readme.txt", b"not a piece"), *tree.items()]:
            info = tarfile.TarInfo(prefix + rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


class FakeServer:
    """Serves ``files`` (URL path -> bytes); ``faults`` are used up one per request.

    A fault is "break" (send only ``break_after`` bytes of the body, then close), an int (answer
    with that HTTP status), or None (serve normally). ``ignore_range`` answers 200 to Range.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: list = []
        self.break_after = 1000
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.lock = threading.Lock()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((handler.path, handler.headers.get("Range")))
            fault = self.faults.pop(0) if self.faults else None
        data = self.files.get(unquote(handler.path))
        if isinstance(fault, int):
            handler.send_error(fault)
            return
        if data is None:
            handler.send_error(404)
            return
        status, start = 200, 0
        wanted = handler.headers.get("Range")
        if wanted and not self.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            status = 206
        body = data[start:]
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        handler.wfile.write(body[: self.break_after] if fault == "break" else body)
        handler.wfile.flush()
        handler.close_connection = True


@pytest.fixture
def server():
    state = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.handle(self)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/urmp"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def archive_server(server, tree):
    server.archive = make_archive(tree)
    server.files["/urmp/Dataset.tar.gz"] = server.archive
    return server


def paths(tmp_path):
    return tmp_path / "res" / "cache", tmp_path / "res" / "Dataset"


def files_under(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_nothing_left(out):
    assert not out.exists()
    assert_no_temporary_sibling(out)


def assert_no_temporary_sibling(out):
    """No `.Dataset.*.tmp` folder (download._temp_sibling) is left beside ``out``."""
    assert not list(out.parent.glob(f".{out.name}.*")), "a temporary folder was left behind"
    if out.parent.exists():
        assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")], "a hidden leftover beside out"


def test_leftover_check_sees_the_real_temporary_folder(tmp_path):
    """The checks below look for what download really leaves on failure, not another name."""
    out = tmp_path / "res" / "Dataset"
    leftover = download._temp_sibling(out)
    with pytest.raises(AssertionError, match="temporary folder"):
        assert_nothing_left(out)
    leftover.rmdir()
    assert_nothing_left(out)


def test_cli_downloads_archive_verifies_checksum_and_extracts_pieces_under_out(archive_server, tree, tmp_path):
    cache, out = paths(tmp_path)
    sha = hashlib.sha256(archive_server.archive).hexdigest()
    code = cli.main(["download", "--url", archive_server.url, "--mode", "archive",
                     "--archive-name", "Dataset.tar.gz", "--sha256", sha,
                     "--cache", str(cache), "--out", str(out)])
    assert code == 0
    got = files_under(out)
    assert {k: v for k, v in got.items() if not k.startswith("Supplementary_Files/")} == tree
    assert (out / SURPRISE / "AuSep_3_tpt_15_Surprise.wav").is_file()
    assert (cache / "Dataset.tar.gz").read_bytes() == archive_server.archive
    assert not (cache / "Dataset.tar.gz.part").exists()
    assert_no_temporary_sibling(out)
    assert archive_server.requests == [("/urmp/Dataset.tar.gz", None)]


def test_archive_whose_top_level_is_the_pieces_is_accepted(server, tree, tmp_path):
    server.files["/urmp/Dataset.tar.gz"] = make_archive(tree, prefix="")
    cache, out = paths(tmp_path)
    download.download_archive(server.url, "Dataset.tar.gz", cache, out, **FAST)
    assert sorted(p.name for p in out.iterdir()) == [JUPITER, SURPRISE, "Supplementary_Files"]
    assert (out / JUPITER / "AuSep_2_vc_01_Jupiter.wav").read_bytes() == tree[f"{JUPITER}/AuSep_2_vc_01_Jupiter.wav"]


def test_archive_mode_keeps_only_the_requested_pieces(archive_server, tree, tmp_path):
    cache, out = paths(tmp_path)
    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, pieces=[JUPITER], **FAST)
    assert [p.name for p in out.iterdir()] == [JUPITER]
    assert sorted(p.name for p in (out / JUPITER).iterdir()) == sorted(PIECE_FILES[JUPITER])


def test_archive_mode_piece_missing_from_archive_is_an_error(archive_server, tmp_path):
    cache, out = paths(tmp_path)
    with pytest.raises(download.ArchiveError, match=r"Dataset\.tar\.gz.*32_Fugue_vn_vn_va_vc"):
        download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out,
                                  pieces=[JUPITER, "32_Fugue_vn_vn_va_vc"], **FAST)
    assert_nothing_left(out)


def test_wrong_checksum_names_url_and_both_digests_and_leaves_nothing(archive_server, tmp_path):
    cache, out = paths(tmp_path)
    actual = hashlib.sha256(archive_server.archive).hexdigest()
    wrong = "0" * 64
    with pytest.raises(download.DownloadError) as err:
        download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, sha256=wrong, **FAST)
    message = str(err.value)
    assert f"{archive_server.url}/Dataset.tar.gz" in message and wrong in message and actual in message
    assert_nothing_left(out)
    assert list(cache.iterdir()) == []  # neither the final file nor the bad part


def test_broken_transfer_is_retried_with_range_and_is_byte_identical(archive_server, tmp_path):
    archive_server.faults = ["break"]
    cache, out = paths(tmp_path)
    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out,
                              sha256=hashlib.sha256(archive_server.archive).hexdigest(), **FAST)
    assert archive_server.requests == [("/urmp/Dataset.tar.gz", None),
                                       ("/urmp/Dataset.tar.gz", "bytes=1000-")]
    assert (cache / "Dataset.tar.gz").read_bytes() == archive_server.archive
    assert (out / SURPRISE).is_dir()


def test_rerun_after_failed_run_resumes_from_the_partial_file(archive_server, tmp_path):
    archive_server.faults = ["break", 503]  # the connection drops, then the server is down
    cache, out = paths(tmp_path)
    with pytest.raises(download.DownloadError, match=r"/urmp/Dataset\.tar\.gz.*503"):
        download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, retries=0, **FAST)
    assert (cache / "Dataset.tar.gz.part").stat().st_size == 1000
    assert not (cache / "Dataset.tar.gz").exists()
    assert_nothing_left(out)

    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, retries=0, **FAST)
    assert archive_server.requests[-1] == ("/urmp/Dataset.tar.gz", "bytes=1000-")
    assert (cache / "Dataset.tar.gz").read_bytes() == archive_server.archive
    assert not (cache / "Dataset.tar.gz.part").exists()
    assert (out / JUPITER).is_dir()


def test_server_ignoring_range_restarts_from_zero(archive_server, tmp_path):
    archive_server.ignore_range = True
    cache, out = paths(tmp_path)
    cache.mkdir(parents=True)
    (cache / "Dataset.tar.gz.part").write_bytes(b"x" * 500)  # appending to this would corrupt it
    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, **FAST)
    assert archive_server.requests == [("/urmp/Dataset.tar.gz", "bytes=500-")]
    assert (cache / "Dataset.tar.gz").read_bytes() == archive_server.archive


def test_complete_partial_file_is_finished_without_transfer_on_416(archive_server, tmp_path):
    cache, out = paths(tmp_path)
    cache.mkdir(parents=True)
    (cache / "Dataset.tar.gz.part").write_bytes(archive_server.archive)
    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, **FAST)
    assert archive_server.requests == [("/urmp/Dataset.tar.gz", f"bytes={len(archive_server.archive)}-")]
    assert (out / SURPRISE).is_dir()


def test_cached_verified_archive_is_not_downloaded_again(archive_server, tmp_path):
    cache, out = paths(tmp_path)
    sha = hashlib.sha256(archive_server.archive).hexdigest()
    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, sha256=sha, **FAST)
    download.shutil.rmtree(out)
    download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, sha256=sha, **FAST)
    assert len(archive_server.requests) == 1
    assert (out / SURPRISE).is_dir()


def test_existing_non_empty_out_is_refused_before_any_transfer(archive_server, tmp_path):
    cache, out = paths(tmp_path)
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="Dataset"):
        download.download_archive(archive_server.url, "Dataset.tar.gz", cache, out, **FAST)
    assert archive_server.requests == []
    assert (out / "keep.txt").read_text() == "mine"


def _file_member(name, data=b"evil"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link_member(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


@pytest.mark.parametrize("member, expected", [
    (_file_member("../evil.txt"), r"'\.\./evil\.txt'.*'\.\.'"),
    (_file_member("Dataset/01_Jupiter_vn_vc/../../../evil.txt"), r"evil\.txt'.*'\.\.'"),
    (_file_member("/tmp/evil.txt"), r"'/tmp/evil\.txt'.*absolute"),
    (_link_member("Dataset/01_Jupiter_vn_vc/link", "/etc/passwd"), r"unsafe member"),
    (_link_member("Dataset/01_Jupiter_vn_vc/link", "../../../../etc/passwd"), r"unsafe member"),
])
def test_unsafe_archive_member_is_refused_and_nothing_is_extracted(server, tree, tmp_path, member, expected):
    server.files["/urmp/Dataset.tar.gz"] = make_archive(tree, extra=[member])
    cache, out = paths(tmp_path)
    with pytest.raises(download.ArchiveError, match=expected):
        download.download_archive(server.url, "Dataset.tar.gz", cache, out, **FAST)
    assert_nothing_left(out)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "res" / "evil.txt").exists()


def test_corrupt_archive_is_an_error_naming_it(server, tmp_path):
    server.files["/urmp/Dataset.tar.gz"] = b"\x1f\x8b" + b"not really gzip" * 50
    cache, out = paths(tmp_path)
    with pytest.raises(download.ArchiveError, match=r"Dataset\.tar\.gz.*cannot read"):
        download.download_archive(server.url, "Dataset.tar.gz", cache, out, **FAST)
    assert_nothing_left(out)


def test_files_mode_fetches_one_piece_with_the_surprise_file_names(server, tree, tmp_path):
    server.files = {f"/urmp/{rel}": data for rel, data in tree.items()}
    cache, out = paths(tmp_path)
    code = cli.main(["download", "--url", server.url + "/", "--mode", "files", "--piece", SURPRISE,
                     "--cache", str(cache), "--out", str(out), "--backoff", "0"])
    assert code == 0
    assert files_under(out) == {k: v for k, v in tree.items() if k.startswith(SURPRISE)}
    assert sorted(path for path, _ in server.requests) == sorted(f"/urmp/{SURPRISE}/{n}" for n in PIECE_FILES[SURPRISE])
    assert_no_temporary_sibling(out)


def test_piece_file_names_follow_the_piece_list_codes():
    assert download.piece_file_names(SURPRISE) == PIECE_FILES[SURPRISE]
    assert download.piece_file_names(JUPITER) == PIECE_FILES[JUPITER]
    with pytest.raises(urmp.URMPLayoutError, match="99_Nowhere_vn_vc"):
        download.piece_file_names("99_Nowhere_vn_vc")


def test_missing_file_404_names_the_url_and_leaves_nothing(server, tree, tmp_path):
    server.files = {f"/urmp/{rel}": data for rel, data in tree.items()}
    del server.files[f"/urmp/{SURPRISE}/F0s_3_tpt_15_Surprise.txt"]
    cache, out = paths(tmp_path)
    with pytest.raises(download.DownloadError,
                       match=rf"{server.url}/{SURPRISE}/F0s_3_tpt_15_Surprise\.txt: HTTP 404"):
        download.download_files(server.url, [SURPRISE], cache, out, **FAST)
    assert_nothing_left(out)
    assert len(server.requests) == len(PIECE_FILES[SURPRISE]) - 1  # no retry of a 404


def test_files_mode_without_pieces_and_bad_url_are_refused(tmp_path):
    cache, out = paths(tmp_path)
    with pytest.raises(ValueError, match="--piece"):
        download.download_files("http://127.0.0.1:9/urmp", [], cache, out)
    assert cli.main(["download", "--url", "None", "--mode", "archive",
                     "--cache", str(cache), "--out", str(out)]) == 1
    assert_nothing_left(out)
