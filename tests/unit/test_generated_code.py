"""The committed gRPC code must be what the committed .proto files generate."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO = REPO / "proto"


def _generate_into(out: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", PROTO / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(out)


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    _generate_into(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*.py*"))
    committed = sorted(p.relative_to(PROTO) for p in PROTO.rglob("*_pb2*.py*"))
    assert generated, "protoc generated nothing"
    assert generated == committed, "generated files differ from committed ones: run `make proto`"
    stale = [str(p) for p in generated if (tmp_path / p).read_bytes() != (PROTO / p).read_bytes()]
    assert not stale, f"stale generated code, run `make proto`: {stale}"
