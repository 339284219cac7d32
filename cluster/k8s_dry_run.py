"""`python -m cluster.k8s_dry_run FOLDER`: the rendered manifests and Chaos Mesh timelines
through a real kube-apiserver's admission, without a cluster to run them
(`make k8s-dry-run`, opt-in: not in CI).

A kube-apiserver and kubectl built from the Go module proxy (tools/kube, a wrapper module;
about six minutes on two cores, kept in .tools/bin), over an etcd of its own (Debian's),
on free ports of 127.0.0.1, everything in a temporary folder removed afterwards. Chaos
Mesh's CRDs (make setup) are applied for real and waited for; then
`kubectl apply --dry-run=server -k FOLDER` and `-f FOLDER/chaos-mesh`: what the API
server's validation and defaulting say of every object, beyond what schemas can check.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cluster.launcher import REPO_ROOT
from cluster.ports import free_ports
from cluster.waiting import wait_until

TOOLS = REPO_ROOT / ".tools" / "bin"
TOKEN = "faultlab-dry-run"
START_TIMEOUT_S = 120.0


def _binary(name: str) -> str:
    found = TOOLS / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        raise SystemExit(f"{name} is missing: `make k8s-dry-run` builds it")
    return on_path


@contextlib.contextmanager
def api_server(folder: Path) -> Iterator[Path]:
    """etcd and kube-apiserver running; yields a kubeconfig for kubectl."""
    etcd_client, etcd_peer, secure = free_ports(3)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (folder / "tokens.csv").write_text(f"{TOKEN},admin,admin,system:masters\n")
    logs = (folder / "etcd.log").open("w"), (folder / "apiserver.log").open("w")
    etcd = subprocess.Popen(
        [
            _binary("etcd"),
            "--data-dir",
            str(folder / "etcd"),
            "--listen-client-urls",
            f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{etcd_peer}",
        ],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    apiserver = subprocess.Popen(
        [
            _binary("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={secure}",
            f"--cert-dir={folder / 'certs'}",
            f"--token-auth-file={folder / 'tokens.csv'}",
            "--authorization-mode=AlwaysAllow",
            f"--service-account-key-file={folder / 'sa.key'}",
            f"--service-account-signing-key-file={folder / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
        ],
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: dry, cluster: {{server: 'https://127.0.0.1:{secure}', "
        "insecure-skip-tls-verify: true}}]\n"
        f"users: [{{name: admin, user: {{token: {TOKEN}}}}}]\n"
        "contexts: [{name: dry, context: {cluster: dry, user: admin}}]\n"
        "current-context: dry\n"
    )
    try:
        wait_until(
            lambda: kubectl(kubeconfig, "get", "--raw", "/readyz").returncode == 0,
            START_TIMEOUT_S,
            "kube-apiserver ready",
            interval_s=0.5,
        )
        yield kubeconfig
    finally:
        for proc in (apiserver, etcd):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_binary("kubectl"), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def dry_run(manifests: Path, crds: Path) -> int:
    steps = [
        ("apply", "-f", str(crds)),
        ("wait", "--for=condition=Established", "--timeout=120s", "crd", "--all"),
        ("apply", "--dry-run=server", "-k", str(manifests)),
        ("apply", "--dry-run=server", "-f", str(manifests / "chaos-mesh")),
    ]
    with (
        tempfile.TemporaryDirectory(prefix="faultlab-dry-run-") as tmp,
        api_server(Path(tmp)) as kubeconfig,
    ):
        for args in steps:
            done = kubectl(kubeconfig, *args)
            print(f"$ kubectl {' '.join(args)}\n{done.stdout}{done.stderr}", flush=True)
            if done.returncode != 0:
                return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m cluster.k8s_dry_run MANIFESTS CRDS", file=sys.stderr)
        return 2
    return dry_run(Path(argv[0]), Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
