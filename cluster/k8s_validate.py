"""Validating manifests against real Kubernetes schemas with kubeconform, offline.

    result = validate([Path("deploy/k8s/kv.yaml")])    # kubeconform -strict, its verdict
    result.ok, result.output

The schemas come from the kubernetes-validate package (the OpenAPI of each Kubernetes
release as JSON Schema, strict variants: no property the API does not define). They
point into one shared definitions file by an absolute path, which kubeconform cannot
follow, so each kind's schema is made standalone here: the definitions it reaches are
copied into it, under the file's own `definitions`. Made once per kind, kept in
.tools/k8s-schemas. kubeconform itself is built from the Go module proxy by `make setup`
into .tools/bin.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.launcher import REPO_ROOT

KUBERNETES_VERSION = "1.33.0"
SCHEMAS = REPO_ROOT / ".tools" / "k8s-schemas"
KUBECONFORM = REPO_ROOT / ".tools" / "bin" / "kubeconform"
# Chaos Mesh's CRDs as controller-gen generated them from its API module (`make setup`).
CHAOS_MESH_CRDS = REPO_ROOT / ".tools" / "chaos-mesh-crds"
CRD_SCHEMAS = SCHEMAS / "crds"
STANDALONE = f"v{KUBERNETES_VERSION}-standalone-strict"
_REF_PREFIXES = ('"/api/_definitions.json#/$defs/', '"#/$defs/')


class ValidatorMissing(RuntimeError):
    """kubeconform or the schema package is not installed; the message says how."""


@dataclass(frozen=True)
class Validation:
    ok: bool
    output: str


def _package_schemas() -> Path:
    try:
        import kubernetes_validate  # type: ignore[import-untyped]  # dev tooling, on demand
    except ImportError as e:
        raise ValidatorMissing("pip install kubernetes-validate (faultlab[dev] has it)") from e
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return root / f"v{KUBERNETES_VERSION}-local-strict"


def _local_refs(text: str) -> str:
    for prefix in _REF_PREFIXES:
        text = text.replace(prefix, '"#/definitions/')
    return text


def standalone(kind_file: str, out_dir: Path = SCHEMAS / STANDALONE) -> Path:
    """The standalone schema of `kind_file` (e.g. "statefulset-apps-v1.json")."""
    out = out_dir / kind_file
    if out.exists():
        return out
    source = _package_schemas()
    path = source / kind_file
    if not path.exists():
        raise FileNotFoundError(f"no schema {kind_file} for Kubernetes {KUBERNETES_VERSION}")
    definitions: dict[str, Any] = json.loads(
        _local_refs((source / "_definitions.json").read_text())
    )["$defs"]
    schema = json.loads(_local_refs(path.read_text()))
    reached: dict[str, Any] = {}
    pending = [schema]
    while pending:
        for ref in _refs(pending.pop()):
            if ref not in reached:
                reached[ref] = definitions[ref]
                pending.append(definitions[ref])
    schema["definitions"] = reached
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(schema))
    partial.replace(out)
    return out


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                found.append(ref.removeprefix("#/definitions/"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def crd_schemas(crd_dir: Path | None = None, out_dir: Path = CRD_SCHEMAS) -> Path:
    """Each CRD version's openAPIV3Schema as kubeconform's KIND_VERSION.json, strict as
    the Kubernetes ones are: an object that lists its properties allows no others (unless
    the CRD says x-kubernetes-preserve-unknown-fields). Remade when the CRDs change."""
    source = crd_dir or _newest(CHAOS_MESH_CRDS)
    stamp = out_dir / ".source"
    if stamp.exists() and stamp.read_text() == str(source):
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        kind = crd["spec"]["names"]["kind"].lower()
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            (out_dir / f"{kind}_{version['name']}.json").write_text(json.dumps(schema))
    stamp.write_text(str(source))
    return out_dir


def _newest(folder: Path) -> Path:
    versions = sorted(p for p in folder.glob("*") if p.is_dir() and not p.name.endswith("partial"))
    if not versions:
        raise ValidatorMissing(f"no CRDs under {folder}: `make setup` generates Chaos Mesh's")
    return versions[-1]


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def kind_file(doc: dict[str, Any]) -> str:
    """kubeconform's name for a document's schema: kind-group-version.json, lower case."""
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{str(doc.get('kind', '')).lower()}{suffix}.json"


def validate(files: list[Path]) -> Validation:
    """kubeconform -strict over `files`, with the Kubernetes schemas they need made
    standalone first, and Chaos Mesh's CRDs for its resources."""
    if not KUBECONFORM.exists() and shutil.which("kubeconform") is None:
        raise ValidatorMissing(f"{KUBECONFORM} is missing: `make setup` builds kubeconform")
    custom = False
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and _is_custom(doc):
                custom = True
            elif isinstance(doc, dict):
                _try_standalone(kind_file(doc))
    binary = str(KUBECONFORM) if KUBECONFORM.exists() else "kubeconform"
    locations = [
        str(SCHEMAS / "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}")
        + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
    ]
    if custom:
        locations.append(str(crd_schemas()) + "/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")
    argv = [binary, "-strict", "-summary", "-kubernetes-version", KUBERNETES_VERSION]
    for location in locations:
        argv += ["-schema-location", location]
    done = subprocess.run(
        [*argv, *map(str, files)], capture_output=True, text=True, check=False, timeout=120
    )
    return Validation(done.returncode == 0, done.stdout + done.stderr)


def _is_custom(doc: dict[str, Any]) -> bool:
    """A resource of a CRD (Chaos Mesh's), not of Kubernetes itself."""
    return "chaos-mesh.org" in str(doc.get("apiVersion", ""))


def _try_standalone(name: str) -> None:
    # Not a kind of this release: kubeconform then says it found no schema.
    with contextlib.suppress(FileNotFoundError):
        standalone(name)
