"""Loading a scenario script: a Python file that defines SCENARIO (a `Scenario`).

Everything that can be wrong with it (no such file, an error while it runs, no SCENARIO,
a node or fault that does not fit) is a ScenarioError naming the file, raised before any
cluster starts.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import traceback
from pathlib import Path

from chaos.scenario.model import Scenario, ScenarioError


def load_script(path: Path) -> Scenario:
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario script")
    spec = importlib.util.spec_from_file_location(f"faultlab_scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e}") from None
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise ScenarioError(
            f"{path}: {type(e).__name__}: {e} (line {where.lineno} of {where.filename})"
        ) from None
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise ScenarioError(f"{path}: defines no SCENARIO = Scenario(...)")
    scenario = dataclasses.replace(scenario, script=path)
    try:
        scenario.validate()
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e}") from None
    return scenario
