"""Synthetic players that drive the real ingest path: scripted sessions posted as native event batches.

Each player knows what it scripted (:class:`Expectation`), so a test or a demo can check the served
sessions against it. Entry point: :func:`run_simulation`; ``reelsight simulate`` wraps it.
"""

from reelsight.simulate.expect import Expectation, Outcome
from reelsight.simulate.run import SimulationReport, run_simulation
from reelsight.simulate.scenarios import BUSINESS_ERROR_PATTERNS, Pacing, Scenario

__all__ = [
    "BUSINESS_ERROR_PATTERNS",
    "Expectation",
    "Outcome",
    "Pacing",
    "Scenario",
    "SimulationReport",
    "run_simulation",
]
