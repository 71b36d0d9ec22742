"""`DREAM_STAGES=N` times one entry in N of each outermost stage, with its nested stages, and reports the
totals scaled back up; `1` times every entry."""

from __future__ import annotations

import pytest

from dream.substrate import stages


@pytest.mark.parametrize("every", [1, 4])
def test_one_entry_in_n_is_timed_and_scaled(every: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "_every", every)
    outer_name, inner_name = f"outer-{every}", f"inner-{every}"
    seen: list[int] = []
    inner = stages.timed(inner_name, lambda: seen.append(1))

    def outer_body() -> None:
        inner()
        inner()

    outer = stages.timed(outer_name, outer_body)
    for _ in range(8):
        outer()
    assert len(seen) == 16  # every call ran, timed or not
    got = stages.snapshot()
    # 8 entries of the outer stage: 8 / every timed, each counted `every` times.
    assert got[outer_name]["count"] == 8
    assert got[inner_name]["count"] == 16
    for name in (outer_name, inner_name):  # the timers' own cost is taken off, and said
        assert got[name]["ns"] >= 0 and got[name]["timers_ns"] >= 0
        assert got[name]["ns"] + got[name]["timers_ns"] > 0


def test_calibration_measures_the_timers_and_leaves_no_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "_bias", [0.0, 0.0])
    before = set(stages.snapshot())
    outermost, nested = stages.calibrate(entries=50, batches=3)
    assert outermost > 0 and nested >= 0
    assert set(stages.snapshot()) == before


def test_the_setting_is_a_positive_whole_number(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, every in (("", 0), ("0", 0), ("1", 1), ("16", 16), ("yes", 0)):
        monkeypatch.setenv(stages.ENV, value)
        assert stages.every() == every
        assert stages.enabled() is (every > 0)
