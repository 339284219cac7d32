"""How Raft messages travel between processes: the `Transport` seam, as frames on plain
TCP or over gRPC streams, both through the Toxiproxy links, or in memory for unit tests."""

from services.raft.transport.grpc_streams import GrpcTransport
from services.raft.transport.memory import MemoryNetwork, MemoryTransport
from services.raft.transport.protocol import Deliver, Transport
from services.raft.transport.tcp import TcpTransport

__all__ = [
    "Deliver",
    "GrpcTransport",
    "MemoryNetwork",
    "MemoryTransport",
    "TcpTransport",
    "Transport",
]
