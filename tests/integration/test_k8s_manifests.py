"""The Kubernetes manifests `faultlab k8s render` writes pass kubeconform in strict mode
against the Kubernetes schemas of a real release (kubernetes-validate's), and the same
validator refuses manifests broken as people break them: a misspelt field, a wrong type."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.chaos_mesh.render import POD_NAME, render_catalogue, workflow
from chaos.experiments import EXPERIMENTS
from chaos.scenario import checkers, faults, workloads
from chaos.scenario.model import Scenario
from cluster.k8s import KUSTOMIZATION, manifests, quorum, render
from cluster.k8s_validate import validate
from services.runtime.topology import Group, Topology

DEFAULT = Topology.build(
    "127.0.0.1", 21000, (Group("kv", 3), Group("lock", 3), Group("log", 3), Group("gateway", 2))
)


def test_every_rendered_manifest_passes_kubeconform_strict(tmp_path: Path) -> None:
    files = render(DEFAULT, tmp_path)
    result = validate(files)
    assert result.ok, result.output
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.output
    kustomization = yaml.safe_load((tmp_path / KUSTOMIZATION).read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in files)


def test_each_group_is_a_statefulset_shaped_for_a_quorum() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for f in manifests(DEFAULT).values() for d in f}
    for group in DEFAULT.groups:
        sts = docs[("StatefulSet", group.name)]["spec"]
        assert sts["replicas"] == group.size
        assert sts["podManagementPolicy"] == "Parallel"
        assert sts["serviceName"] == f"{group.name}-peers"
        assert docs[("Service", f"{group.name}-peers")]["spec"]["clusterIP"] == "None"
        pdb = docs[("PodDisruptionBudget", group.name)]["spec"]
        assert group.size - pdb["maxUnavailable"] == quorum(group.size)
        pod = sts["template"]["spec"]
        anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
        container = pod["containers"][0]
        assert "healthcheck --self" in container["readinessProbe"]["exec"]["command"][-1]
        assert (
            container["livenessProbe"]["failureThreshold"]
            * container["livenessProbe"]["periodSeconds"]
            >= 60
        )  # conservative: a minute of failures before a restart
        assert pod["terminationGracePeriodSeconds"] > 2 * 2  # the preStop sleep fits
    proxies = docs[("ConfigMap", "toxiproxy-config")]["data"]["toxiproxy.json"]
    assert "kv-0.kv-peers:" in proxies  # node kv1 is pod kv-0


@pytest.mark.parametrize(
    ("broken", "expect"),
    [
        # a misspelt field: strict schemas have no property the API does not define
        (lambda d: d["spec"].update(replicsa=3), "replicsa"),
        # a wrong type
        (lambda d: d["spec"].update(replicas="three"), "replicas"),
        # a misspelt field deep in the pod template
        (lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriod=5), "termination"),
    ],
)
def test_the_validator_rejects_broken_manifests(
    broken: Callable[[dict[str, Any]], None], expect: str, tmp_path: Path
) -> None:
    [sts] = [d for d in manifests(DEFAULT)["kv.yaml"] if d["kind"] == "StatefulSet"]
    broken(sts)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(sts))
    result = validate([path])
    assert not result.ok
    assert "Invalid: 1" in result.output and expect in result.output, result.output


def test_the_cli_renders_and_validates(tmp_path: Path) -> None:
    (tmp_path / "topology.toml").write_text("[groups.kv]\nnodes = 3\n")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cluster", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert cli("k8s", "render", "--out", "base").returncode == 0
    checked = cli("k8s", "validate", "base")
    assert checked.returncode == 0, checked.stdout
    assert "Valid: 35, Invalid: 0" in checked.stdout, checked.stdout  # 7 + 14 x 2 Workflows
    (tmp_path / "base" / "kv.yaml").write_text(
        (tmp_path / "base" / "kv.yaml").read_text().replace("replicas: 3", "replicas: three")
    )
    refused = cli("k8s", "validate", "base")
    assert refused.returncode == 1 and "Invalid: 1" in refused.stdout, refused.stdout


CHAOS_MESH = Path(__file__).parent / "fixtures" / "chaos_mesh" / "timeline.yaml"


def test_chaos_mesh_resources_pass_the_crds_controller_gen_made() -> None:
    """Chaos Mesh's CRDs generated from its Go API module (`make setup`), as kubeconform
    schemas: a Workflow timeline and one fault of each kind the catalogue needs."""
    result = validate([CHAOS_MESH])
    assert result.ok, result.output
    assert "Valid: 7, Invalid: 0, Errors: 0" in result.output


@pytest.mark.parametrize(
    ("broken", "expect"),
    [
        # a misspelt field of a NetworkChaos inside the Workflow
        (
            lambda docs: docs[0]["spec"]["templates"][3]["networkChaos"].update(directon="both"),
            "directon",
        ),
        # a wrong type: a duration must be a string ("30s")
        (lambda docs: docs[1]["spec"].update(duration=30), "duration"),
        # an action the CRD does not have
        (lambda docs: docs[2]["spec"].update(action="pod-explode"), "action"),
    ],
)
def test_the_validator_rejects_broken_chaos_mesh_resources(
    broken: Callable[[list[dict[str, Any]]], None], expect: str, tmp_path: Path
) -> None:
    docs = list(yaml.safe_load_all(CHAOS_MESH.read_text()))
    broken(docs)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = validate([path])
    assert not result.ok
    assert "Invalid: 1" in result.output and expect in result.output, result.output


def test_every_catalogue_timeline_passes_the_chaos_mesh_crds(tmp_path: Path) -> None:
    files, skipped = render_catalogue(EXPERIMENTS, tmp_path, duration_s=60.0)
    result = validate(files)
    assert result.ok, result.output
    assert f"Valid: {2 * len(files)}, Invalid: 0, Errors: 0" in result.output  # two modes
    rendered = {p.stem for p in files}
    assert rendered | set(skipped) == set(EXPERIMENTS)
    for name in skipped:  # each experiment Chaos Mesh cannot run says why
        assert EXPERIMENTS[name].mesh_gaps, name


def test_a_timeline_lands_where_the_labs_faults_do() -> None:
    exp = EXPERIMENTS["stale-read"]
    flow = workflow(exp, exp.unsafe, duration_s=60.0)
    assert flow is not None
    templates = {t["name"]: t for t in flow["spec"]["templates"]}
    assert templates["s0-isolate-leader-wait"]["deadline"] == "15s"  # 25% of 60 s
    fault = templates["s0-isolate-leader-fault"]
    assert fault["deadline"] == "33s"  # until 80%
    assert fault["networkChaos"]["action"] == "partition"
    assert fault["networkChaos"]["direction"] == "both"
    assert "picks one kv pod" in flow["metadata"]["annotations"]["faultlab.io/notes"]

    slow = EXPERIMENTS["tail-latency"]
    flow = workflow(slow, slow.unsafe, duration_s=60.0)
    assert flow is not None
    [delay] = [t["networkChaos"] for t in flow["spec"]["templates"] if "networkChaos" in t]
    assert delay["selector"] == {"labelSelectors": {POD_NAME: "kv-1"}}  # node kv2
    assert delay["delay"] == {"latency": "150ms", "jitter": "50ms"}
    assert delay["direction"] == "to"
    assert delay["target"]["selector"]["labelSelectors"]["app.kubernetes.io/name"] == "gateway"

    disk = EXPERIMENTS["slow-disk"]  # the modes differ in whose disk is slow
    for mode, role in ((disk.unsafe, "leader"), (disk.safe, "follower")):
        flow = workflow(disk, mode, 60.0)
        assert flow is not None
        [io] = [t["ioChaos"] for t in flow["spec"]["templates"] if "ioChaos" in t]
        assert io["action"] == "latency" and io["methods"] == ["FSYNC"] and io["delay"] == "100ms"
        assert f"aimed at the {role}" in flow["metadata"]["annotations"]["faultlab.io/notes"]


def test_a_scenarios_own_faults_become_chaos_mesh_steps() -> None:
    steps = [
        faults.kill("kv2", start=0.2, end=0.5),
        faults.pause("leader", start=0.6, end=0.7),
        faults.clock("kv3", rate=0.5, start=0.1, end=0.9),
    ]
    exp = Scenario(
        name="mine",
        title="mine",
        hypothesis="",
        workload=workloads.kv_register(),
        checkers=[checkers.linearizable()],
        timeline=steps,
    ).experiment()
    kinds = [(s.kind, s.target, s.group) for s in exp.mesh(exp.safe)]
    assert kinds == [("pod-kill", "kv2", "kv"), ("pod-failure", "leader", "kv")]
    assert exp.mesh_gaps and "TimeChaos" in exp.mesh_gaps[0]  # a clock rate it cannot do


def test_bad_render_options_are_refused_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "topology.toml").write_text("[groups.kv]\nnodes = 3\n")
    for args in (("--peers", "carrier-pigeon"), ("--chaos-duration", "soon")):
        done = subprocess.run(
            [sys.executable, "-m", "cluster", "k8s", "render", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert not (tmp_path / "k8s").exists()  # nothing written on bad input
    with pytest.raises(ValueError, match="peers"):
        manifests(DEFAULT, peers="carrier-pigeon")
