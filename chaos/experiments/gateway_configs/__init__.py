"""The gateway configurations of the gateway experiments' modes, one TOML file per mode
(FAULTLAB_GATEWAY_CONFIG of every gateway node of the run)."""

from __future__ import annotations

from pathlib import Path

from chaos.experiments.base import Mode

CONFIGS = Path(__file__).parent


def gateway_mode(experiment: str, name: str, summary: str, anomaly: bool) -> Mode:
    """Mode `name` of `experiment`, its gateways configured by EXPERIMENT_NAME.toml."""
    config = CONFIGS / f"{experiment.replace('-', '_')}_{name}.toml"
    assert config.exists(), config
    return Mode(name, summary, {"FAULTLAB_GATEWAY_CONFIG": str(config)}, anomaly)
