"""The images docker-compose.yml runs, built where no container registry can be reached.

    env = build_images(engine.client, pull=False)   # FAULTLAB_*_IMAGE for compose

1. The base: python:3.11-slim when `pull` and a registry answers; otherwise
   faultlab-base:bookworm, a Debian bookworm with python3 made by mmdebstrap from the
   machine's own package sources (the tarball is kept in build/ for the next time) and
   loaded with `docker import`.
2. The wheelhouse (build/wheelhouse): faultlab's wheel and the wheels of its runtime
   dependencies for CPython 3.11 on manylinux x86-64, made on this host. Only what a node
   needs: the `lab` extra (typer, matplotlib, the chaos tooling) is not in it.
3. The node image (Dockerfile): the wheelhouse installed into a venv, no network.
4. Toxiproxy: ghcr.io/shopify/toxiproxy when `pull`, otherwise Dockerfile.toxiproxy: the
   base plus the toxiproxy-server `make setup` built.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import docker.errors

from cluster.compose import BASE_IMAGE, NODE_IMAGE, TOXIPROXY_IMAGE
from cluster.launcher import REPO_ROOT, find_toxiproxy

LOCAL_BASE = "faultlab-base:bookworm"
LOCAL_TOXIPROXY = "faultlab-toxiproxy:2.5.0"
BUILD_DIR = REPO_ROOT / "build"
WHEELHOUSE = BUILD_DIR / "wheelhouse"
BASE_TARBALL = BUILD_DIR / "base-bookworm.tar"
# The node image's Python: python:3.11-slim's, and Debian bookworm's python3.
IMAGE_PYTHON = ("3.11", "cp311")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


class ImageError(RuntimeError):
    """An image could not be built; the message says which step and why."""


def build_images(client: docker.DockerClient, pull: bool) -> dict[str, str]:
    """Build (or pull) every image; returns the compose variables naming them."""
    base = _pulled(client, BASE_IMAGE) if pull else None
    base = base or _local_base(client)
    _wheelhouse()
    _build(client, "Dockerfile", NODE_IMAGE, base)
    toxiproxy = _pulled(client, TOXIPROXY_IMAGE) if pull else None
    if toxiproxy is None:
        _stage_toxiproxy()
        toxiproxy = _build(client, "Dockerfile.toxiproxy", LOCAL_TOXIPROXY, base)
    return {
        "FAULTLAB_BASE_IMAGE": base,
        "FAULTLAB_NODE_IMAGE": NODE_IMAGE,
        "FAULTLAB_TOXIPROXY_IMAGE": toxiproxy,
    }


def _pulled(client: docker.DockerClient, image: str) -> str | None:
    try:
        client.images.pull(image)
    except docker.errors.DockerException:
        return None  # no registry here: build it instead
    return image


def _local_base(client: docker.DockerClient) -> str:
    try:
        client.images.get(LOCAL_BASE)
        return LOCAL_BASE
    except docker.errors.ImageNotFound:
        pass
    if not BASE_TARBALL.exists():
        _mmdebstrap(BASE_TARBALL)
    repository, tag = LOCAL_BASE.split(":")
    client.api.import_image_from_file(str(BASE_TARBALL), repository=repository, tag=tag)
    return LOCAL_BASE


def _mmdebstrap(out: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            f"{BASE_IMAGE} cannot be pulled and mmdebstrap is not installed "
            "to build a local base (Debian: apt-get install mmdebstrap)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--include=python3,python3-venv",
        "--format=tar",
        "bookworm",
        str(partial),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageError(f"mmdebstrap failed:\n{done.stderr[-2000:]}")
    partial.replace(out)


def runtime_requirements() -> list[str]:
    """faultlab's own dependencies, without any extra's."""
    requires = importlib.metadata.requires("faultlab") or []
    return [r for r in requires if "extra ==" not in r]


def _wheelhouse() -> None:
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)
    version, abi = IMAGE_PYTHON
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    steps = [
        [*pip, "wheel", "--no-deps", "--wheel-dir", str(WHEELHOUSE), str(REPO_ROOT)],
        [
            *pip,
            "download",
            "--dest",
            str(WHEELHOUSE),
            "--only-binary=:all:",
            "--python-version",
            version,
            "--implementation",
            "cp",
            "--abi",
            abi,
            "--abi",
            "abi3",
            "--abi",
            "none",
            *platforms,
            *runtime_requirements(),
        ],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageError(f"building the wheelhouse failed ({argv[4]}):\n{done.stderr[-2000:]}")


def _stage_toxiproxy() -> None:
    """Dockerfile.toxiproxy copies .tools/bin/toxiproxy-server and toxiproxy-cli (the
    build context is the repository); a pair found elsewhere ($FAULTLAB_TOXIPROXY, PATH)
    is copied there first."""
    server = Path(find_toxiproxy())
    for name, found in (
        ("toxiproxy-server", server),
        ("toxiproxy-cli", server.parent / "toxiproxy-cli"),
    ):
        if not found.exists():
            raise ImageError(f"{found} is missing: `make setup` builds both Toxiproxy binaries")
        staged = REPO_ROOT / ".tools" / "bin" / name
        if found.resolve() != staged.resolve():
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found, staged)


def build_swarm_node_image(client: docker.DockerClient, tag: str) -> str:
    """A swarm node (Dockerfile.swarm-node): the local base with Debian's docker.io,
    installed from the machine's package sources; built once and kept."""
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    return _build(client, "Dockerfile.swarm-node", tag, _local_base(client), network="host")


def _build(
    client: docker.DockerClient, dockerfile: str, tag: str, base: str, network: str = ""
) -> str:
    """`network`: the build's network mode ("host" where a step fetches packages; the
    project's own engine runs without a default bridge)."""
    try:
        client.images.build(
            path=str(REPO_ROOT),
            dockerfile=dockerfile,
            tag=tag,
            buildargs={"BASE_IMAGE": base},
            rm=True,
            pull=False,
            network_mode=network or None,
        )
    except docker.errors.BuildError as e:
        lines = "".join(str(chunk.get("stream", "")) for chunk in e.build_log)
        raise ImageError(f"building {tag} from {dockerfile} failed: {e}\n{lines[-2000:]}") from e
    return tag
