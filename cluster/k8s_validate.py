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


def kind_file(doc: dict[str, Any]) -> str:
    """kubeconform's name for a document's schema: kind-group-version.json, lower case."""
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{str(doc.get('kind', '')).lower()}{suffix}.json"


def validate(files: list[Path], extra_locations: tuple[str, ...] = ()) -> Validation:
    """kubeconform -strict over `files`, with the Kubernetes schemas they need made
    standalone first; `extra_locations`: more schema location templates (CRDs)."""
    if not KUBECONFORM.exists() and shutil.which("kubeconform") is None:
        raise ValidatorMissing(f"{KUBECONFORM} is missing: `make setup` builds kubeconform")
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and not _is_custom(doc):
                _try_standalone(kind_file(doc))
    binary = str(KUBECONFORM) if KUBECONFORM.exists() else "kubeconform"
    locations = [
        str(SCHEMAS / "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}")
        + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
        *extra_locations,
    ]
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
