"""Lab 8 confirms its claim in quick mode: naive fine-tuning forgets task 1, EWC and replay keep it."""

from __future__ import annotations

from collections.abc import Callable

from lamina.labs.catalog import LabResult


def test_naive_forgets_task_one_and_ewc_and_replay_hold_it(lab_result: Callable[[str], LabResult]) -> None:
    result = lab_result("forgetting")
    assert result.verdict == "CONFIRMED", result.margin
    rows = {row["strategy"]: row for row in result.table}
    assert rows["naive"]["task 1 after task 1"] > 0.9  # task 1 was learned before it was forgotten
    assert rows["naive"]["task 1 after last task"] < 0.5
    for strategy in ("ewc", "replay"):
        assert rows[strategy]["task 1 after last task"] > rows["naive"]["task 1 after last task"] + 0.25
        assert rows[strategy]["average accuracy (all tasks)"] > rows["naive"]["average accuracy (all tasks)"]
    assert (result.folder / "task1_accuracy.png").read_bytes().startswith(b"\x89PNG")
