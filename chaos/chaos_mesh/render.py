"""Each catalogue experiment's timeline as a Chaos Mesh Workflow, for the lab on
Kubernetes (the manifests of cluster/k8s.py, peers dialling one another directly).

    docs = workflow(EXPERIMENTS["stale-read"], exp.unsafe, duration_s=60)
    render_catalogue(Path("k8s/chaos-mesh"), duration_s=60)

A Workflow whose entry runs every fault in parallel; each fault is a serial branch that
waits (a Suspend) until its start, then runs its chaos with a deadline of its length. So
the faults land when the lab's would, relative to when the Workflow is applied: start the
workload, then apply the Workflow. What Chaos Mesh injects differently from the lab, or
cannot inject, is written on the Workflow (annotations faultlab.io/notes and
faultlab.io/gaps), and a Workflow is written only when it injects something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chaos.chaos_mesh.steps import KINDS, MeshStep
from chaos.experiments.base import Experiment, Mode
from cluster.k8s import LABEL, PART_OF

API_VERSION = "chaos-mesh.org/v1alpha1"
POD_NAME = "statefulset.kubernetes.io/pod-name"
DATA = "/data"
EMBEDDED = {  # a Workflow template's field for each kind
    "NetworkChaos": "networkChaos",
    "PodChaos": "podChaos",
    "IOChaos": "ioChaos",
    "TimeChaos": "timeChaos",
}


def _pods(group: str) -> dict[str, Any]:
    if group == "all":  # every node of the topology; Toxiproxy is not one
        return {
            "labelSelectors": dict(PART_OF),
            "expressionSelectors": [{"key": LABEL, "operator": "NotIn", "values": ["toxiproxy"]}],
        }
    return {"labelSelectors": {LABEL: group}}


def _target(step: MeshStep) -> tuple[str, dict[str, Any]]:
    """(mode, selector) of the pods a step acts on."""
    if step.target in ("leader", "follower"):
        return "one", _pods(step.group)  # the role is lost: Chaos Mesh picks one pod
    if step.target == "all":
        return "all", _pods(step.group)
    ordinal = int(step.target.removeprefix(step.group)) - 1  # kv2: pod kv-1
    return "all", {"labelSelectors": {POD_NAME: f"{step.group}-{ordinal}"}}


def _other_side(step: MeshStep) -> dict[str, Any]:
    return {"mode": "all", "selector": _pods(step.peers or step.group)}


def _ms(value: int) -> str:
    return f"{value}ms"


def chaos_spec(step: MeshStep) -> dict[str, Any]:
    """The spec of the Chaos Mesh resource a step becomes (without its duration)."""
    kind, action = KINDS[step.kind]
    mode, selector = _target(step)
    spec: dict[str, Any] = {"mode": mode, "selector": selector}
    if kind == "NetworkChaos":
        spec["action"] = action
        if action == "partition":
            spec["direction"] = {"partition": "both", "partition-to": "to"}.get(step.kind, "from")
            spec["target"] = _other_side(step)
        else:
            spec["delay"] = {"latency": _ms(step.latency_ms), "jitter": _ms(step.jitter_ms)}
            if step.peers:
                spec["direction"] = "to"
                spec["target"] = _other_side(step)
    elif kind == "PodChaos":
        spec["action"] = action
        if action == "pod-kill":
            spec["gracePeriod"] = 0
    elif kind == "IOChaos":
        spec.update(action=action, volumePath=DATA, path=f"{DATA}/**/*", methods=["FSYNC"])
        spec["percent"] = 100
        if action == "latency":
            spec["delay"] = _ms(step.latency_ms)
        else:
            spec["errno"] = 5  # EIO
    else:  # TimeChaos
        spec["timeOffset"] = _ms(step.offset_ms)
    return spec


def _seconds(value_s: float) -> str:
    return f"{max(value_s, 0.001):.3f}".rstrip("0").rstrip(".") + "s"


def workflow(exp: Experiment, mode: Mode, duration_s: float) -> dict[str, Any] | None:
    """The Workflow of `exp`'s faults in `mode` for a run of `duration_s`, or None when
    Chaos Mesh injects none of them."""
    steps = exp.mesh(mode)
    if not steps:
        return None
    branches: list[str] = []
    templates: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        kind, _ = KINDS[step.kind]
        branch = f"s{i}-{step.name}"
        length_s = step.length_s or (step.end - step.start) * duration_s
        children = []
        if step.start > 0:
            children.append(f"{branch}-wait")
            templates.append(
                {
                    "name": f"{branch}-wait",
                    "templateType": "Suspend",
                    "deadline": _seconds(step.start * duration_s),
                }
            )
        children.append(f"{branch}-fault")
        templates.append(
            {
                "name": f"{branch}-fault",
                "templateType": kind,
                "deadline": _seconds(length_s),
                EMBEDDED[kind]: chaos_spec(step),
            }
        )
        templates.append({"name": branch, "templateType": "Serial", "children": children})
        branches.append(branch)
    entry = {"name": "timeline", "templateType": "Parallel", "children": branches}
    notes = [f"{s.name}: {s.note}" for s in steps if s.note]
    notes += [
        f"{s.name}: aimed at the {s.target} in the lab; Chaos Mesh picks one {s.group} pod"
        for s in steps
        if s.target in ("leader", "follower")
    ]
    annotations = {"faultlab.io/experiment": exp.name, "faultlab.io/mode": mode.name}
    if notes:
        annotations["faultlab.io/notes"] = "\n".join(notes)
    if exp.mesh_gaps:
        annotations["faultlab.io/gaps"] = "\n".join(exp.mesh_gaps)
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "name": f"faultlab-{exp.name}-{mode.name}",
            "labels": dict(PART_OF),
            "annotations": annotations,
        },
        "spec": {"entry": "timeline", "templates": [entry, *templates]},
    }


def render_catalogue(
    experiments: dict[str, Experiment], out: Path, duration_s: float
) -> tuple[list[Path], dict[str, str]]:
    """A file of Workflows (one per mode) for each experiment Chaos Mesh can run; and,
    for each it cannot, why."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: dict[str, str] = {}
    for name, exp in sorted(experiments.items()):
        docs = [d for m in exp.modes("both") if (d := workflow(exp, m, duration_s))]
        if not docs:
            skipped[name] = "; ".join(exp.mesh_gaps) or "no fault of its timeline"
            continue
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False, width=100))
        written.append(path)
    return written, skipped
