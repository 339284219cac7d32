"""One Docker engine and one set of images for every container test of the session: the
reachable engine, or a dockerd of the tests' own (removed afterwards), and the images
built without a registry."""

from __future__ import annotations

import time
from collections.abc import Iterator

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
