"""TLS on every gRPC connection of a cluster, mutual: one CA per cluster, a certificate per
node and one for clients (cluster/tls.py makes them). Nodes and clients alike present a
certificate of the cluster's CA, so a plaintext client, or anyone holding a certificate
of another CA, is refused in the handshake; and a Raft message is taken only from a
caller whose certificate names a node of the group (grpc_streams.py, and tcp.py for the
framed transport, which uses the same files through Python's ssl), so a client's
certificate cannot forge one.

    FAULTLAB_TLS_DIR=DIR     DIR/ca.pem, and DIR/NAME.pem + DIR/NAME.key per identity

Without FAULTLAB_TLS_DIR everything is plaintext, as before. Every certificate carries
the DNS name SERVER_NAME and channels check that name whatever address they dial (a
Toxiproxy link on 127.0.0.1, a container's name): the CA, not the address, is the trust.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

TLS_DIR_ENV = "FAULTLAB_TLS_DIR"
SERVER_NAME = "faultlab"
CLIENT = "client"  # the identity of the SDK, the CLI and the chaos workloads
CA_FILE = "ca.pem"

Options = Sequence[tuple[str, Any]]
_identity = CLIENT


def act_as(identity: str) -> None:
    """The certificate this process presents when it dials (a node: its own id)."""
    global _identity
    _identity = identity


def tls_dir() -> Path | None:
    folder = os.environ.get(TLS_DIR_ENV)
    return Path(folder) if folder else None


def _read(folder: Path, name: str) -> bytes:
    try:
        return (folder / name).read_bytes()
    except OSError as e:
        raise RuntimeError(f"{TLS_DIR_ENV}={folder}: cannot read {name}: {e.strerror}") from e


def server_credentials(node_id: str) -> grpc.ServerCredentials | None:
    folder = tls_dir()
    if folder is None:
        return None
    pair = (_read(folder, f"{node_id}.key"), _read(folder, f"{node_id}.pem"))
    return grpc.ssl_server_credentials(
        [pair], root_certificates=_read(folder, CA_FILE), require_client_auth=True
    )


def channel_credentials(folder: Path, identity: str) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=_read(folder, CA_FILE),
        private_key=_read(folder, f"{identity}.key"),
        certificate_chain=_read(folder, f"{identity}.pem"),
    )


def aio_channel(
    address: str,
    options: Options = (),
    interceptors: Sequence[Any] = (),
    folder: Path | None = None,
) -> grpc.aio.Channel:
    """A channel to `address`: TLS with this process's identity when the cluster's TLS
    folder is set (or given), plaintext otherwise."""
    folder = folder or tls_dir()
    if folder is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    creds = channel_credentials(folder, _identity)
    return grpc.aio.secure_channel(
        address, creds, options=_named(options), interceptors=interceptors
    )


def sync_channel(address: str, options: Options = (), folder: Path | None = None) -> grpc.Channel:
    folder = folder or tls_dir()
    if folder is None:
        return grpc.insecure_channel(address, options=options)
    creds = channel_credentials(folder, _identity)
    return grpc.secure_channel(address, creds, options=_named(options))


def _named(options: Options) -> list[tuple[str, Any]]:
    return [*options, ("grpc.ssl_target_name_override", SERVER_NAME)]


def peer_identity(context: grpc.aio.ServicerContext) -> str | None:
    """The common name of the certificate the caller presented; None over plaintext."""
    names = context.auth_context().get("x509_common_name") or []
    return names[0].decode() if names else None


def ssl_server_context(node_id: str) -> ssl.SSLContext | None:
    """For a plain TCP listener (Raft's framed transport): the node's certificate, and a
    certificate of the cluster's CA required of every caller. None without TLS."""
    folder = tls_dir()
    if folder is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(folder / CA_FILE))
    context.load_cert_chain(folder / f"{node_id}.pem", folder / f"{node_id}.key")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def ssl_client_context() -> ssl.SSLContext | None:
    """For dialling a plain TCP listener as this process's identity; the server must show
    a certificate of the cluster's CA for SERVER_NAME. None without TLS."""
    folder = tls_dir()
    if folder is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(folder / CA_FILE))
    context.load_cert_chain(folder / f"{_identity}.pem", folder / f"{_identity}.key")
    return context


def ssl_peer_identity(peercert: dict[str, Any] | None) -> str | None:
    """The common name of a verified peer certificate (`SSLObject.getpeercert()`)."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
