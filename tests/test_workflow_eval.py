"""The evaluation stage's wiring in the real Snakefile (dry runs on the tiny config): `all`
plans every evaluation output, and Table 4 / Fig. 8 join it only once raters' score files are
in evaluation.human_scores_dir. The steps themselves run in tests/test_eval_steps.py."""

import pytest
from workflow_helpers import make_workdir, planned_rules

pytestmark = pytest.mark.workflow

EVAL_RULES = ("eval_table5", "eval_evolution", "eval_i2s", "eval_pose", "eval_fig1", "human_eval_page",
              "window_pitch", "pitch_judge_image", "pitch_judge_sound", "eval_pitch", "scorecard")


def test_all_plans_every_evaluation_step_but_no_human_report_without_scores(tmp_path):
    plan = planned_rules(make_workdir(tmp_path), "all")
    assert {rule: plan.get(rule) for rule in EVAL_RULES} == dict.fromkeys(EVAL_RULES, 1)
    assert "human_eval_report" not in plan


def test_score_files_in_the_configured_folder_add_table4_and_fig8(tmp_path):
    workdir = make_workdir(tmp_path, {"evaluation.human_scores_dir": "scores"})
    (workdir / "scores").mkdir()
    (workdir / "scores" / "ann.csv").write_text("set_id,image_slot,score,rater\ncello-01,1,3,ann\n")
    plan = planned_rules(workdir, "all")
    assert plan.get("human_eval_report") == 1
    assert plan.get("human_eval_page") == 1
