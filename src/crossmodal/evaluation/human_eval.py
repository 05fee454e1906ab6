"""Human evaluation of the generated images (Sec. 5.2.1, Table 4, Fig. 8).

The paper shows raters, for each instrument, 10 sets of four images (S2I-C, S2I-N, S2I-A and a
ground-truth frame) without telling them which image comes from which method, and asks for a
score from 0 to 3 (Table 4). Here that is a static page that works from file:// (images are
PNG files beside it) and saves the scores as a CSV file built in the browser. The order of the
four images in each set is shuffled with a seed, and the key that unblinds it is written to a
CSV outside the page's folder (by default ``<folder>_key.csv`` beside it), so the folder can be
zipped and sent whole without unblinding anything. The page shows the images at the paper's
64x64 (Sec. 5.2.1: "all images are evaluated at size 64x64") or enlarged, as the rater toggles.

Score files that raters send back go in one folder; :func:`score_table` unblinds them with the
key into the mean score per method (and per instrument), from which Fig. 8 is drawn.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from crossmodal.store import atomic_output, write_csv, write_text

#: The methods of a set, as the key names them (never shown on the page).
METHODS: tuple[str, ...] = ("S2I-C", "S2I-N", "S2I-A", "ground_truth")

#: Table 4: the scoring guideline, highest score first as in the paper.
SCORE_MEANINGS: dict[int, str] = {
    3: "Realistic image & match instrument",
    2: "Realistic image & mismatch instrument",
    1: "Fair image (player visible, instrument not visible)",
    0: "Unrealistic image",
}

#: The paper's mean scores (Sec. 5.2.1). The text names S2I-C and the ground truth; Fig. 8 also
#: shows 1.16 and 0.84 for the two variants, but the extracted text does not say which is which.
PAPER_MEAN_SCORE: dict[str, float] = {"S2I-C": 1.81, "ground_truth": 2.59}

SCORE_COLUMNS: tuple[str, ...] = ("set_id", "image_slot", "score", "rater")
KEY_COLUMNS: tuple[str, ...] = ("set_id", "instrument", "image_slot", "method", "image_file")


class HumanEvalError(ValueError):
    """A score file or the key is not as expected; the message names the file."""


@dataclass(frozen=True)
class ImageSet:
    """One set shown to raters: an instrument and one uint8 [S, S, 3] RGB image per method."""

    instrument: str
    images: dict[str, np.ndarray]


def set_ids(sets: list[ImageSet]) -> list[str]:
    """``<instrument>-<k>``, k = 01.. counting the sets of each instrument in the order given."""
    counts: dict[str, int] = {}
    ids = []
    for image_set in sets:
        counts[image_set.instrument] = counts.get(image_set.instrument, 0) + 1
        ids.append(f"{image_set.instrument}-{counts[image_set.instrument]:02d}")
    return ids


def blind(sets: list[ImageSet], seed: int) -> pd.DataFrame:
    """The key: for every set a seeded random order of its methods over slots 1..4.

    Set ids come from :func:`set_ids`; images are ``images/<set_id>_<slot>.png``, so neither
    names a method. Returns a frame with KEY_COLUMNS, one row per image.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for set_id, image_set in zip(set_ids(sets), sets):
        if set(image_set.images) != set(METHODS):
            raise HumanEvalError(f"set {set_id} has images for {sorted(image_set.images)}; "
                                 f"expected {sorted(METHODS)}")
        order = rng.permutation(len(METHODS))
        for slot, method_index in enumerate(order, start=1):
            rows.append({
                "set_id": set_id,
                "instrument": image_set.instrument,
                "image_slot": slot,
                "method": METHODS[method_index],
                "image_file": f"images/{set_id}_{slot}.png",
            })
    return pd.DataFrame(rows, columns=list(KEY_COLUMNS))


def default_key_path(out_dir: str | os.PathLike) -> Path:
    """``<out_dir>_key.csv``, beside the folder sent to raters, never inside it."""
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}_key.csv"


def write_page(out_dir: str | os.PathLike, sets: list[ImageSet], seed: int,
               key_path: str | os.PathLike | None = None, title: str = "Sound-to-image: human evaluation") -> pd.DataFrame:
    """Writes ``out_dir/index.html`` and ``out_dir/images/*.png``, and the key CSV to
    ``key_path`` (default :func:`default_key_path`), which must lie outside ``out_dir``: the
    folder is what raters get. Returns the key.

    Images that an earlier run left in ``images/`` and that this page does not use are
    removed, and so is a key an older version wrote inside the folder, so the folder is
    exactly what the page shows.
    """
    out_dir = Path(out_dir)
    key_path = Path(key_path) if key_path else default_key_path(out_dir)
    if key_path.resolve().is_relative_to(out_dir.resolve()):
        raise HumanEvalError(f"{key_path}: the key must not lie inside {out_dir}, the folder sent to raters "
                             "(it would unblind the sets)")
    key = blind(sets, seed)
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    by_set = dict(zip(set_ids(sets), sets))
    content = hashlib.sha256()  # names the page's saved progress in the browser
    for row in key.itertuples():
        image = np.asarray(by_set[row.set_id].images[row.method])
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise HumanEvalError(f"set {row.set_id}: images must be uint8 [S, S, 3], "
                                 f"got {image.dtype} {image.shape}")
        content.update(row.image_file.encode())
        content.update(np.ascontiguousarray(image).tobytes())
        with atomic_output(out_dir / row.image_file) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
    used = {Path(f).name for f in key["image_file"]}
    for stale in images_dir.glob("*.png"):
        if stale.name not in used:
            stale.unlink()
    (out_dir / "key.csv").unlink(missing_ok=True)
    write_csv(key_path, key)
    write_text(out_dir / "index.html", render_page(key, title, content.hexdigest()[:16]))
    return key


def render_page(key: pd.DataFrame, title: str, page_id: str) -> str:
    """The page's HTML: only set ids, instruments, slots and image files reach it.

    ``page_id`` names the scores the browser keeps between visits (localStorage), so a page
    with other images does not restore them; it must not depend on the methods.
    """
    sets = []
    for set_id, rows in key.groupby("set_id", sort=False):
        sets.append({
            "set_id": set_id,
            "instrument": rows["instrument"].iloc[0].replace("_", " "),
            "images": [{"slot": int(r.image_slot), "src": r.image_file}
                       for r in rows.sort_values("image_slot").itertuples()],
        })
    data = {
        "sets": sets,
        "scores": [{"value": v, "meaning": m} for v, m in SCORE_MEANINGS.items()],
        "page_id": page_id,
    }
    payload = json.dumps(data).replace("</", "<\\/")
    guideline = "".join(f"<tr><td>{v}</td><td>{html.escape(m)}</td></tr>" for v, m in SCORE_MEANINGS.items())
    return (_PAGE.replace("__TITLE__", html.escape(title))
            .replace("__GUIDELINE__", guideline)
            .replace("__DATA__", payload))


def read_scores(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Score CSV files (as the page saves them) -> one frame with SCORE_COLUMNS and ``file``.

    Refuses missing columns, scores outside 0..3, a rater without a name, and the same image
    scored twice by one rater (a partial and a full download of the same session: remove one).
    """
    frames = []
    for path in sorted(Path(p) for p in paths):
        try:
            df = pd.read_csv(path, dtype={"set_id": str, "rater": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise HumanEvalError(f"{path}: not a readable score CSV: {err}") from err
        missing = [c for c in SCORE_COLUMNS if c not in df.columns]
        if missing:
            raise HumanEvalError(f"{path}: missing column(s) {missing}")
        scores = pd.to_numeric(df["score"], errors="coerce")
        if scores.isna().any() or not scores.isin(list(SCORE_MEANINGS)).all():
            raise HumanEvalError(f"{path}: scores must be integers 0..3")
        if df["rater"].isna().any() or (df["rater"].str.strip() == "").any():
            raise HumanEvalError(f"{path}: every row needs a rater name")
        frames.append(df[list(SCORE_COLUMNS)].assign(score=scores.astype(int), file=str(path)))
    if not frames:
        raise HumanEvalError("no score files given")
    scores = pd.concat(frames, ignore_index=True)
    twice = scores[scores.duplicated(["rater", "set_id", "image_slot"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        files = sorted(set(twice.loc[(twice.rater == first.rater) & (twice.set_id == first.set_id), "file"]))
        raise HumanEvalError(f"rater {first.rater!r} scored set {first.set_id} slot {first.image_slot} "
                             f"more than once (in {files}); keep one file per rater session")
    return scores


def score_files(folder: str | os.PathLike) -> list[Path]:
    """The score CSV files that raters put in ``folder`` (sorted; none when it does not exist)."""
    folder = Path(folder)
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def unblind(scores: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """Scores joined with the key: adds ``instrument`` and ``method`` to every score."""
    merged = scores.merge(key[["set_id", "image_slot", "instrument", "method"]],
                          on=["set_id", "image_slot"], how="left", validate="many_to_one")
    unknown = merged[merged["method"].isna()]
    if len(unknown):
        row = unknown.iloc[0]
        raise HumanEvalError(f"{row.file}: set {row.set_id} slot {row.image_slot} is not in the key "
                             "(scores from another version of the page?)")
    return merged


def score_table(scores: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """Table 4's results: per method, over all instruments (``instrument`` = "all") and per
    instrument, the number of scores, the mean score, the votes for each score 0..3, the share
    of images judged realistic (score >= 2) and the paper's mean score where the text gives it."""
    merged = unblind(scores, key)
    groups = [("all", merged)] + [(name, part) for name, part in merged.groupby("instrument", sort=True)]
    rows = []
    for instrument, part in groups:
        for method in METHODS:
            mine = part.loc[part["method"] == method, "score"]
            row = {"instrument": instrument, "method": method, "n_scores": int(mine.size),
                   "n_raters": int(part.loc[part["method"] == method, "rater"].nunique()),
                   "mean_score": float(mine.mean()) if mine.size else float("nan")}
            for value in sorted(SCORE_MEANINGS):
                row[f"votes_{value}"] = int((mine == value).sum())
            row["share_realistic"] = float((mine >= 2).mean()) if mine.size else float("nan")
            row["paper_mean_score"] = PAPER_MEAN_SCORE.get(method, float("nan")) if instrument == "all" else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
  body { font-family: sans-serif; margin: 1.5em; max-width: 60em; }
  table.guide td { padding: 0.1em 0.8em; }
  section.instrument { margin-top: 2em; }
  .set { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em; margin: 0.8em 0; }
  .images { display: flex; gap: 1em; flex-wrap: wrap; }
  figure { margin: 0; }
  figure img { width: 128px; height: 128px; image-rendering: pixelated; display: block; }
  body.paper-size figure img { width: 64px; height: 64px; }
  figcaption label { display: block; font-size: 0.85em; }
  #bar { padding: 0.5em 0; border-bottom: 1px solid #ccc; }
  #message { color: #a00; }
</style>
</head>
<body>
<h1>__TITLE__</h1>
<p>Each set below shows four images of the named instrument, in a random order. Score every
image from 0 to 3 with this guideline, then save your scores and send the CSV file back.</p>
<table class="guide"><tr><th>Score</th><th>Meaning</th></tr>__GUIDELINE__</table>
<div id="bar">
  <label>Your name: <input id="rater" type="text" autocomplete="off"></label>
  <label title="The paper's raters saw 64x64 images"><input id="paper-size" type="checkbox"> images at the
    paper's size (64x64; unticked: enlarged 2x)</label>
  <span id="progress"></span>
  <button id="download" type="button">Save scores (CSV)</button>
  <a id="download-link" style="display:none">scores.csv</a>
  <div id="message"></div>
</div>
<div id="sets"></div>
<script>
"use strict";
const DATA = __DATA__;
const STORE = "crossmodal-" + DATA.page_id;

function inputName(setId, slot) { return "score_" + setId + "_" + slot; }

function render() {
  const root = document.getElementById("sets");
  let current = null;
  for (const set of DATA.sets) {
    if (!current || current.dataset.instrument !== set.instrument) {
      current = document.createElement("section");
      current.className = "instrument";
      current.dataset.instrument = set.instrument;
      const h = document.createElement("h2");
      h.textContent = "Instrument: " + set.instrument;
      current.appendChild(h);
      root.appendChild(current);
    }
    const box = document.createElement("div");
    box.className = "set";
    box.id = "set-" + set.set_id;
    const title = document.createElement("div");
    title.textContent = "Set " + set.set_id;
    box.appendChild(title);
    const row = document.createElement("div");
    row.className = "images";
    for (const image of set.images) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = image.src;
      img.alt = "set " + set.set_id + ", image " + image.slot;
      fig.appendChild(img);
      const cap = document.createElement("figcaption");
      for (const score of DATA.scores) {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "radio";
        input.name = inputName(set.set_id, image.slot);
        input.value = String(score.value);
        input.dataset.setId = set.set_id;
        input.dataset.slot = String(image.slot);
        input.title = score.meaning;
        input.addEventListener("change", saveState);
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + score.value));
        cap.appendChild(label);
      }
      fig.appendChild(cap);
      row.appendChild(fig);
    }
    box.appendChild(row);
    current.appendChild(box);
  }
}

function collect() {
  const rows = [];
  for (const set of DATA.sets) {
    for (const image of set.images) {
      const checked = document.querySelector('input[name="' + inputName(set.set_id, image.slot) + '"]:checked');
      if (checked) rows.push({set_id: set.set_id, image_slot: image.slot, score: Number(checked.value)});
    }
  }
  return rows;
}

function total() { return DATA.sets.reduce((n, s) => n + s.images.length, 0); }

function updateProgress() {
  document.getElementById("progress").textContent = collect().length + " of " + total() + " images scored";
}

function saveState() {
  updateProgress();
  try {
    localStorage.setItem(STORE, JSON.stringify({rater: document.getElementById("rater").value, rows: collect()}));
  } catch (e) { /* storage may be unavailable; scores still live in the page */ }
}

function setPaperSize(on) {
  document.getElementById("paper-size").checked = on;
  document.body.classList.toggle("paper-size", on);
}

function saveView() {
  setPaperSize(document.getElementById("paper-size").checked);
  try { localStorage.setItem(STORE + "-view", document.body.classList.contains("paper-size") ? "64" : "128"); }
  catch (e) { /* storage may be unavailable */ }
}

function restoreState() {
  let state = null;
  try { setPaperSize(localStorage.getItem(STORE + "-view") === "64"); } catch (e) { /* default: enlarged */ }
  try { state = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { state = null; }
  if (!state) return;
  document.getElementById("rater").value = state.rater || "";
  for (const row of state.rows || []) {
    const input = document.querySelector('input[name="' + inputName(row.set_id, row.image_slot) + '"][value="' + row.score + '"]');
    if (input) input.checked = true;
  }
}

function csvField(value) {
  const text = String(value);
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function scoresCsv() {
  const rater = document.getElementById("rater").value.trim();
  const lines = ["set_id,image_slot,score,rater"];
  for (const row of collect()) {
    lines.push([row.set_id, row.image_slot, row.score, rater].map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}

function download() {
  const message = document.getElementById("message");
  const rater = document.getElementById("rater").value.trim();
  if (!rater) { message.textContent = "Please enter your name first."; return; }
  const n = collect().length;
  if (n === 0) { message.textContent = "No image is scored yet."; return; }
  message.textContent = n < total() ? (total() - n) + " images are not scored yet; the file holds the scored ones." : "";
  const blob = new Blob([scoresCsv()], {type: "text/csv"});
  const link = document.getElementById("download-link");
  link.href = URL.createObjectURL(blob);
  link.download = "human_eval_scores_" + rater.replace(/[^A-Za-z0-9_-]+/g, "_") + ".csv";
  link.style.display = "inline";
  link.click();
}

render();
restoreState();
updateProgress();
document.getElementById("rater").addEventListener("input", saveState);
document.getElementById("paper-size").addEventListener("change", saveView);
document.getElementById("download").addEventListener("click", download);
</script>
</body>
</html>
"""
