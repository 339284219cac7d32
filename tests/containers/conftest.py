"""One Docker engine and one set of images for every container test of the session: the
reachable engine, or a dockerd of the tests' own (removed afterwards), and the images
built without a registry."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster.engine import Engine, docker_engine
from cluster.images import build_images, build_swarm_node_image
from cluster.swarm import SWARM_NODE_IMAGE


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with docker_engine() as found:
        yield found


@pytest.fixture(scope="session")
def images(engine: Engine) -> dict[str, str]:
    started = time.monotonic()
    env = build_images(engine.client, pull=False)  # tests reach no registry
    print(f"images built in {time.monotonic() - started:.1f} s: {env}")
    return env


@pytest.fixture(scope="session")
def swarm_images(engine: Engine, images: dict[str, str]) -> dict[str, str]:
    """The images, and the swarm node image beside them."""
    build_swarm_node_image(engine.client, SWARM_NODE_IMAGE)
    return images


def user_cli(engine: Engine, folder: Path, timeout_s: float = 600) -> Callable[..., str]:
    """The CLI run in `folder` as a user would (its own FAULTLAB_HOME, the engine's
    DOCKER_HOST), failing the test on a non-zero exit; returns what it printed."""
    env = {**engine.env, "FAULTLAB_HOME": str(folder / "home"), "COLUMNS": "200"}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cluster", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return cli
