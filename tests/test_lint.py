"""The rule files pass Snakemake's linter and snakefmt; the evaluation imports no other step.

The linter's provenance checks are what keep config values out of shell lines (they reach a
command only through ``params``, so a changed value reruns what it touches); its only remaining
complaint is the missing conda environment per rule, which the pinned .venv replaces
(envs/setup.sh). snakefmt keeps every rule file in one shape (settings in pyproject.toml).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from workflow_helpers import REPO, make_workdir, snakemake

#: The one lint the workflow keeps: every job runs in the project's pinned .venv instead.
CONDA_LINT = "Specify a conda environment or container for each rule."


def lints(text: str) -> dict[str, set[str]]:
    """Lint titles by what they are about (a rule or a snakefile), from `snakemake --lint`'s text."""
    found: dict[str, set[str]] = {}
    about = None
    for line in text.splitlines():
        if line.startswith("Lints for "):
            about = line[len("Lints for "):].rstrip(":")
        elif about and (match := re.match(r"^    \* (.+):$", line)):
            found.setdefault(about, set()).add(match[1])
    return found


def test_lints_parse_titles_per_rule():
    text = ("Lints for rule a (line 1, x.smk):\n    * First title:\n      body text.\n"
            "    * Second: with colon:\n      more body:\nLints for snakefile x.smk:\n    * Third:\n")
    assert lints(text) == {"rule a (line 1, x.smk)": {"First title", "Second: with colon"},
                           "snakefile x.smk": {"Third"}}


def test_snakemake_lint_finds_only_the_missing_conda_environments(tmp_path):
    result = snakemake(make_workdir(tmp_path), "--lint", check=False)
    found = lints(result.stdout + result.stderr)
    assert found, f"no lint output parsed:\n{result.stderr[-2000:]}"
    others = {about: titles - {CONDA_LINT} for about, titles in found.items() if titles - {CONDA_LINT}}
    assert others == {}
    # Every rule with an action is reported for its conda environment, so the parse saw them all.
    assert {"rule audio_classifier", "rule s2i_n", "rule eval_table5"} <= {a.split(" (")[0] for a in found}


def test_snakefmt_leaves_every_rule_file_unchanged():
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow" / "rules").glob("*.smk"))]
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *files], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def imported_modules(path) -> set[str]:
    """Every module a Python file imports (``from a import b`` counts ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_imported_modules_sees_both_import_forms(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import a.b\nfrom c import d, e\n\ndef f():\n    from g.h import i\n")
    assert imported_modules(path) == {"a.b", "c", "c.d", "c.e", "g.h", "g.h.i"}


def test_evaluation_imports_no_step_module_and_loads_nets_from_models_only():
    from crossmodal.cli import STEPS

    # The paper's stages: their trained nets load through models/, their shared pieces live in
    # non-step modules (metrics, judges, inputs, paper, ...).
    stages = ("dataset", "sound", "image", "gan", "evaluation")
    steps = {module for module, _ in STEPS.values() if module.split(".")[1] in stages}
    assert {"crossmodal.sound.classifier", "crossmodal.evaluation.table5"} <= steps
    evaluation = sorted((REPO / "src" / "crossmodal" / "evaluation").glob("*.py"))
    assert len(evaluation) > 5
    for path in evaluation:
        module = f"crossmodal.evaluation.{path.stem}"
        assert imported_modules(path) & (steps - {module}) == set(), path.name
