"""The chaos run, short: a real server SIGKILLed and SIGTERMed under concurrent players, and restarted
each time, loses and duplicates no acknowledged event, and every session ends exactly once, the way
it should (the full run is ``bench/chaos.py``)."""

from __future__ import annotations

from pathlib import Path

from bench.chaos import ChaosConfig, plan_sessions, run_chaos


def test_kills_and_restarts_under_load_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(sessions=30, duration_s=12, seed=3, workdir=tmp_path, sigkills=2, sigterms=2)
    result = run_chaos(config, echo=lambda _line: None)
    figures = result.figures() + "".join(f"\n  {line}" for line in [*result.harness_errors, *result.problems])
    assert (result.sigkill, result.sigterm, result.restarts) == (2, 2, 4), figures
    assert result.harness_errors == [], figures
    planned = plan_sessions(config.sessions, config.duration_s, config.seed)
    assert result.batches == sum(p.batches for p in planned), figures  # every batch was acknowledged
    assert (result.lost, result.duplicated, result.unexpected, result.misordered) == (0, 0, 0, 0), figures
    assert (result.not_ended, result.ended_twice, result.wrong_end, result.live_left) == (0, 0, 0, 0), figures
    assert (result.late, result.rejected) == (0, 0), figures
    assert result.resent_events > 0, figures  # batches sent again after their 202 came back duplicate
    assert result.resent_wrong == 0, figures
    assert result.ok, figures
