"""Download URMP: the whole released archive, or a chosen subset of pieces file by file.

Source: URMP is published on Dryad, doi:10.5061/dryad.ng3r749 (CC0), as one archive
``Dataset.tar.gz`` of about 12 GB. No URL is hard-coded here: the user sets
``data.download.url`` (the address of the folder that holds the archive, or of a file-per-file
mirror of the tree), since none can be reached from our machines.

Two modes:

- ``archive``: fetch ``<url>/<archive-name>``, check its SHA-256 when one is given, extract it
  safely and move its ``Dataset/`` folder (or a top level made of the pieces themselves) to
  ``--out``; with ``--piece``, only those pieces are kept.
- ``files``: fetch ``<url>/<piece dir>/<file>`` for each ``--piece``, with the file names built
  from URMP's naming (crossmodal.urmp), the 15_Surprise quirk included.

A 12 GB transfer breaks, so every file is resumable and atomic: bytes go to
``<cache>/<name>.part``; a rerun continues with an HTTP Range request from the part's size (from
byte 0 when the server ignores Range); the part is renamed to its final name only when complete
and verified. ``--out`` is built in a temporary sibling folder and renamed into place when
complete, so a failed run leaves nothing a rerun would take as valid. Only this step touches
the network.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from crossmodal import urmp

log = logging.getLogger(__name__)

#: HTTP statuses worth another try (the server is busy or briefly broken); others are final.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CHUNK_SIZE = 1 << 20  # bytes read and written at a time
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


class DownloadError(OSError):
    """A transfer failed for good (HTTP error, checksum mismatch, retries spent); names the URL."""


class ArchiveError(ValueError):
    """The archive is unreadable, unsafe, or does not hold URMP's layout; names the archive."""


class _TransferBroken(Exception):
    """A transfer stopped early in a way that another try may fix (connection lost, HTTP 503)."""


def join_url(base: str, *names: str) -> str:
    """``base`` + ``/name/...``, each name percent-quoted (URMP names are plain ASCII anyway)."""
    return "/".join([base.rstrip("/"), *(urllib.parse.quote(n) for n in names)])


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(
            f"--url {url!r} is not an http(s) address: set data.download.url in the config "
            "(for a URMP folder already on disk use data.source: local)"
        )


def _progress(**kwargs) -> tqdm:
    """A byte progress bar on stderr; redrawn rarely when stderr is a log file."""
    interactive = sys.stderr.isatty()
    return tqdm(unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                mininterval=0.5 if interactive else 30.0, **kwargs)


def sha256_file(path: Path, chunk_size: int = CHUNK_SIZE) -> str:
    """Hex SHA-256 of a file, read in chunks (the archive does not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f, _progress(total=path.stat().st_size, desc=f"sha256 {path.name}",
                                          leave=False) as bar:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/200`` -> (100, 200); ``bytes */200`` -> (None, 200); unknown -> Nones."""
    match = _CONTENT_RANGE_RE.match((value or "").strip())
    if not match:
        return None, None
    start = int(match[1]) if match[1] is not None else None
    total = int(match[3]) if match[3] != "*" else None
    return start, total


def _transfer(url: str, part: Path, timeout_s: float, chunk_size: int) -> None:
    """One request: appends to ``part`` from its size, or rewrites it from 0.

    Returns when the server has sent the whole file; raises _TransferBroken when another try
    may help (the part keeps what arrived) and DownloadError when it will not.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "crossmodal-download", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            _, total = _parse_content_range(err.headers.get("Content-Range"))
            if total == offset:
                return  # the part already holds the whole file (a run stopped before renaming)
            part.unlink()
            raise _TransferBroken(
                f"server cannot resume from byte {offset} (file size {total}); restarting from 0"
            ) from None
        if err.code in RETRY_STATUSES:
            raise _TransferBroken(f"HTTP {err.code} {err.reason}") from None
        hint = " (no such file on the server)" if err.code == 404 else ""
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}{hint}") from None
    except urllib.error.URLError as err:
        raise _TransferBroken(f"cannot connect: {err.reason}") from None
    except (OSError, http.client.HTTPException) as err:
        raise _TransferBroken(f"request failed: {err!r}") from None

    with response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        if response.status == 206 and offset:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _TransferBroken(f"server resumed from byte {start}, not {offset}; restarting")
            mode = "ab"
        elif response.status == 200:
            if offset:
                log.warning("%s: server ignores Range; restarting from byte 0", url)
                offset = 0
            total = expected
            mode = "wb"
        else:
            raise DownloadError(f"{url}: unexpected HTTP {response.status} {response.reason}")
        if total is None and expected is not None:
            total = offset + expected

        received = 0
        with open(part, mode) as f, _progress(total=total, initial=offset, desc=part.name[:-5]) as bar:
            while True:
                try:
                    chunk = response.read(chunk_size)
                except (OSError, http.client.HTTPException) as err:
                    raise _TransferBroken(
                        f"connection lost after {offset + received} of {total or '?'} bytes: {err!r}"
                    ) from None
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as err:  # disk full: another try will not help
                    raise DownloadError(f"{url}: cannot write {part}: {err}") from err
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received < expected:
        raise _TransferBroken(f"connection closed after {offset + received} of {total} bytes")


def fetch(url: str, dest: str | os.PathLike, *, sha256: str | None = None, timeout_s: float = 60.0,
          retries: int = 5, backoff_s: float = 2.0, chunk_size: int = CHUNK_SIZE) -> Path:
    """Downloads ``url`` to ``dest``, resumably and atomically; returns ``dest``.

    Bytes go to ``<dest>.part``; a broken transfer is retried (waiting ``backoff_s``, doubled
    each time) up to ``retries`` times in a row without progress, each try resuming with a Range
    request. With ``sha256`` the file is checked before the part is renamed to ``dest``; a
    mismatch removes it and raises DownloadError naming the URL and both digests. A ``dest``
    already present is kept (after checking it against ``sha256`` when given).
    """
    _check_url(url)
    dest = Path(dest)
    sha256 = sha256.lower() if sha256 else None
    if dest.exists():
        if sha256 is None:
            log.info("%s: already downloaded", dest)
            return dest
        actual = sha256_file(dest)
        if actual == sha256:
            log.info("%s: already downloaded, SHA-256 verified", dest)
            return dest
        log.warning("%s: SHA-256 %s, expected %s; downloading it again", dest, actual, sha256)
        dest.unlink()

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = 0
    best = part.stat().st_size if part.exists() else 0
    while True:
        try:
            _transfer(url, part, timeout_s, chunk_size)
            break
        except _TransferBroken as err:
            size = part.stat().st_size if part.exists() else 0
            failures = 0 if size > best else failures + 1  # progress made: a fresh set of tries
            best = max(best, size)
            if failures > retries:
                raise DownloadError(
                    f"{url}: {err}; gave up after {retries + 1} tries without progress "
                    f"({size} bytes kept in {part}: a rerun resumes from there)"
                ) from None
            delay = backoff_s * 2 ** max(failures - 1, 0)
            log.warning("%s: %s; trying again in %.1f s", url, err, delay)
            time.sleep(delay)

    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(
                f"{url}: SHA-256 mismatch: expected {sha256}, got {actual}; removed the download"
            )
        log.info("%s: SHA-256 verified", dest.name)
    os.replace(part, dest)
    return dest


# --- the output folder -------------------------------------------------------------------------

def _check_out_free(out: Path) -> None:
    """``--out`` must not exist, or be an empty folder: a rerun never deletes someone's files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty folder; remove it first")


def _temp_sibling(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


def _move_into_place(folder: Path, out: Path) -> None:
    _check_out_free(out)
    if out.exists():
        out.rmdir()
    os.replace(folder, out)


# --- mode archive ------------------------------------------------------------------------------

def _piece_of(parts: Sequence[str]) -> str | None:
    """The first path component that is a piece folder name, if any."""
    return next((p for p in parts if urmp.PIECE_DIR_RE.match(p)), None)


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or member.name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member.name):
        raise ArchiveError(f"{archive}: member {member.name!r} has an absolute path; refusing to extract")
    if ".." in path.parts or ".." in PurePosixPath(member.name.replace("\\", "/")).parts:
        raise ArchiveError(f"{archive}: member {member.name!r} contains '..'; refusing to extract")


def _extract_members(archive: Path, into: Path, pieces: set[str]) -> set[str]:
    """Streams the archive once into ``into``; returns the piece folders seen.

    Every member is checked first (no absolute path, no ``..``) and extracted with tarfile's
    "data" filter, which also refuses links pointing outside and device files. With ``pieces``,
    only members inside those piece folders are written.
    """
    seen: set[str] = set()
    size = archive.stat().st_size
    try:
        with open(archive, "rb") as raw, tqdm.wrapattr(
                raw, "read", total=size, desc=f"extract {archive.name}", unit="B", unit_scale=True,
                unit_divisor=1024, file=sys.stderr,
                mininterval=0.5 if sys.stderr.isatty() else 30.0) as f, \
                tarfile.open(fileobj=f, mode="r|*") as tar:
            for member in tar:
                _check_member(member, archive)
                piece = _piece_of(PurePosixPath(member.name).parts)
                if piece is not None:
                    seen.add(piece)
                if pieces and piece not in pieces:
                    continue
                tar.extract(member, into, filter="data")
    except tarfile.FilterError as err:
        raise ArchiveError(f"{archive}: unsafe member refused: {err}") from None
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise ArchiveError(f"{archive}: cannot read the archive ({err}); delete it and rerun") from None
    return seen


def find_dataset_root(folder: Path, max_depth: int = 3) -> Path:
    """The shallowest folder under ``folder`` (itself included) that holds piece folders.

    That is ``Dataset/`` for the released archive, or ``folder`` itself for an archive whose top
    level is the pieces. Raises ArchiveError when none, or several at the same depth, are found.
    """
    level = [folder]
    for _ in range(max_depth + 1):
        hits = [d for d in level
                if any(c.is_dir() and urmp.PIECE_DIR_RE.match(c.name) for c in d.iterdir())]
        if len(hits) > 1:
            raise ArchiveError(f"several folders hold URMP pieces: {[str(h.relative_to(folder)) for h in hits]}")
        if hits:
            return hits[0]
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not c.is_symlink()]
    raise ArchiveError("holds no URMP piece folder (expected Dataset/<NN>_<Name>_<codes>/...)")


def extract_dataset(archive: str | os.PathLike, out: str | os.PathLike, pieces: Iterable[str] = ()) -> Path:
    """Extracts the URMP tree of ``archive`` to ``out`` (the ``Dataset/`` folder); returns ``out``.

    ``out`` is built in a temporary sibling folder and renamed into place at the end; with
    ``pieces`` only those piece folders are kept, and a piece the archive lacks is an error.
    """
    archive, out, pieces = Path(archive), Path(out), set(pieces)
    _check_out_free(out)
    tmp = _temp_sibling(out)
    try:
        seen = _extract_members(archive, tmp, pieces)
        missing = sorted(pieces - seen)
        if missing:
            raise ArchiveError(f"{archive}: no piece folder {missing} in the archive")
        try:
            root = find_dataset_root(tmp)
        except ArchiveError as err:
            raise ArchiveError(f"{archive}: {err}") from None
        _move_into_place(root, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def download_archive(url: str, archive_name: str, cache: str | os.PathLike, out: str | os.PathLike, *,
                     sha256: str | None = None, pieces: Iterable[str] = (), **fetch_options) -> Path:
    """Mode archive: ``<url>/<archive_name>`` -> ``<cache>/<archive_name>`` -> ``out``."""
    out = Path(out)
    _check_out_free(out)  # fail before 12 GB of transfer, not after
    archive = fetch(join_url(url, archive_name), Path(cache) / archive_name, sha256=sha256,
                    **fetch_options)
    extract_dataset(archive, out, pieces)
    log.info("URMP extracted to %s; the archive stays in %s (delete it to save space)", out, archive)
    return out


# --- mode files --------------------------------------------------------------------------------

def piece_file_names(piece_dir: str) -> list[str]:
    """The released files of one piece: Vid, AuMix, AuSep/Notes/F0s per part, Sco (.mid).

    Part files use the instrument code of URMP's piece list (``tpt`` for 15_Surprise part 3,
    whose folder says ``tbn``). Raises URMPLayoutError for a name that is not a URMP piece.
    """
    piece = urmp.parse_piece_dir(piece_dir)
    listed = urmp.load_piece_list()
    if piece_dir not in listed:
        raise urmp.URMPLayoutError(
            f"{piece_dir!r} is not one of URMP's {len(listed)} pieces "
            f"(see {urmp.DATA_DIR / 'urmp_pieces.tsv'})"
        )
    abbrs = listed[piece_dir]
    names = [piece.video_name(), piece.mix_name()]
    for kind in ("AuSep", "Notes", "F0s"):
        names += [piece.part_file_name(kind, part, abbr) for part, abbr in enumerate(abbrs, start=1)]
    names.append(piece.score_name())
    return names


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # same file system: no second copy of the video
    except OSError:
        shutil.copy2(src, dst)


def download_files(url: str, pieces: Sequence[str], cache: str | os.PathLike, out: str | os.PathLike,
                   **fetch_options) -> Path:
    """Mode files: ``<url>/<piece>/<file>`` -> ``<cache>/<piece>/<file>`` -> ``out/<piece>/<file>``."""
    if not pieces:
        raise ValueError("mode files needs at least one --piece (data.pieces in the config)")
    out, cache = Path(out), Path(cache)
    _check_out_free(out)
    jobs = [(piece, name) for piece in dict.fromkeys(pieces) for name in piece_file_names(piece)]
    for piece, name in tqdm(jobs, desc="URMP files", unit="file", file=sys.stderr):
        fetch(join_url(url, piece, name), cache / piece / name, **fetch_options)
    tmp = _temp_sibling(out)
    try:
        for piece, name in jobs:
            _link_or_copy(cache / piece / name, tmp / piece / name)
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%d files of %d piece(s) in %s", len(jobs), len(set(pieces)), out)
    return out


# --- CLI ---------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True,
                        help="base address: of the archive (mode archive) or of a file mirror (mode files)")
    parser.add_argument("--mode", choices=("archive", "files"), default="archive")
    parser.add_argument("--archive-name", default="Dataset.tar.gz", help="mode archive: file under --url")
    parser.add_argument("--sha256", default=None, help="mode archive: expected SHA-256 of the archive")
    parser.add_argument("--piece", action="append", default=[], metavar="PIECE_DIR",
                        help="piece folder to keep (archive) or fetch (files); repeatable")
    parser.add_argument("--cache", type=Path, required=True, help="folder for partial and complete downloads")
    parser.add_argument("--out", type=Path, required=True, help="the Dataset/ folder to create")
    parser.add_argument("--retries", type=int, default=5, help="tries without progress before giving up")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry")
    parser.add_argument("--backoff", type=float, default=2.0, help="first wait between tries, in seconds")


def run(args: argparse.Namespace) -> None:
    _check_url(args.url)
    if args.sha256 is not None and not SHA256_RE.match(args.sha256):
        raise ValueError(f"--sha256 {args.sha256!r} is not 64 hex digits")
    options = {"timeout_s": args.timeout, "retries": args.retries, "backoff_s": args.backoff}
    if args.mode == "archive":
        download_archive(args.url, args.archive_name, args.cache, args.out, sha256=args.sha256,
                         pieces=args.piece, **options)
    else:
        if args.sha256:
            log.warning("--sha256 is the archive's checksum; mode files does not use it")
        download_files(args.url, args.piece, args.cache, args.out, **options)
