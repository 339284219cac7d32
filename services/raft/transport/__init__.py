"""How Raft messages travel between processes: the `Transport` seam, over gRPC streams
through the Toxiproxy links, or in memory for unit tests."""

from services.raft.transport.grpc_streams import GrpcTransport
from services.raft.transport.memory import MemoryNetwork, MemoryTransport
from services.raft.transport.protocol import Deliver, Transport

__all__ = ["Deliver", "GrpcTransport", "MemoryNetwork", "MemoryTransport", "Transport"]
