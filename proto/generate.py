"""Regenerate the Python code for every .proto under proto/faultlab and proto/etcdapi
(etcd's v3 API, which the KV nodes serve beside their own).

The generated modules are committed beside their .proto files (gRPC's own
examples do the same), so a fresh clone imports them without a build step.
`tests/unit/test_generated_code.py` runs this into a temporary folder and fails
when the committed code differs, so a .proto edit cannot land without its code.

Usage: python proto/generate.py [OUT_DIR]   (default: proto/, in place)
"""

from __future__ import annotations

import sys
from pathlib import Path

from google.rpc import status_pb2
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent


def proto_files() -> list[Path]:
    return sorted([*PROTO_ROOT.glob("faultlab/**/*.proto"), *PROTO_ROOT.glob("etcdapi/**/*.proto")])


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    googleapis = Path(status_pb2.__file__).resolve().parent.parent.parent  # google/rpc/*.proto
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
