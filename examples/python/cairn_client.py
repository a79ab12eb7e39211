#!/usr/bin/env python3
"""A Cairn client in Python, generated from proto/ with grpcio-tools (docs/security.md).

Connects to a secure cluster (npm start -- --secure) two ways and lists the topics:

  cert:     mutual TLS with a client certificate (the admin's, from data/tls)
  password: TLS plus SCRAM-SHA-512 with a user name and password (cairn users create ...)

Usage:
  python3 examples/python/cairn_client.py cert     HOST:PORT CA_FILE CERT_FILE KEY_FILE
  python3 examples/python/cairn_client.py password HOST:PORT CA_FILE USER PASSWORD

Needs Debian's grpcio and protoc with its gRPC Python plugin:
  apt-get install python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc
The stubs are generated from proto/cairn.proto into a temporary directory at each run.
"""
import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto")


def load_stubs():
    out = tempfile.mkdtemp(prefix="cairn-py-")
    plugin = os.environ.get("GRPC_PYTHON_PLUGIN", "/usr/bin/grpc_python_plugin")
    subprocess.run(
        ["protoc", "-I", PROTO_DIR, f"--python_out={out}", f"--grpc_out={out}", f"--plugin=protoc-gen-grpc={plugin}", os.path.join(PROTO_DIR, "cairn.proto")],
        check=True,
    )
    sys.path.insert(0, out)
    import cairn_pb2  # noqa: E402
    import cairn_pb2_grpc  # noqa: E402

    return cairn_pb2, cairn_pb2_grpc


def read(path):
    with open(path, "rb") as f:
        return f.read()


def scram_sha512_token(channel, pb, stubs, user, password):
    """RFC 5802 over the SaslAuthenticate call: returns the session token for 'authorization: Bearer'."""
    broker = stubs.BrokerStub(channel)
    client_nonce = base64.b64encode(secrets.token_bytes(24)).decode()
    client_first_bare = "n=" + user.replace("=", "=3D").replace(",", "=2C") + ",r=" + client_nonce
    first = broker.SaslAuthenticate(pb.SaslAuthenticateRequest(mechanism="SCRAM-SHA-512", auth_bytes=("n,," + client_first_bare).encode()))
    if first.error_code != 0:
        raise RuntimeError(first.error_message)
    server_first = first.auth_bytes.decode()
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    if not attrs["r"].startswith(client_nonce):
        raise RuntimeError("the server changed our nonce")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
    stored_key = hashlib.sha512(client_key).digest()
    without_proof = "c=biws,r=" + attrs["r"]
    auth_message = ",".join([client_first_bare, server_first, without_proof]).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha512).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    final = broker.SaslAuthenticate(pb.SaslAuthenticateRequest(mechanism="SCRAM-SHA-512", session_id=first.session_id, auth_bytes=(without_proof + ",p=" + proof).encode()))
    if final.error_code != 0:
        raise RuntimeError(final.error_message)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha512).digest()
    expected = "v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha512).digest()).decode()
    if final.auth_bytes.decode() != expected:
        raise RuntimeError("the server could not prove it knows the password")
    return final.token


def main():
    import grpc

    pb, stubs = load_stubs()
    mode, address, ca = sys.argv[1], sys.argv[2], read(sys.argv[3])
    if mode == "cert":
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=read(sys.argv[5]), certificate_chain=read(sys.argv[4]))
        channel = grpc.secure_channel(address, creds)
        metadata = ()
    elif mode == "password":
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=ca))
        token = scram_sha512_token(channel, pb, stubs, sys.argv[4], sys.argv[5])
        metadata = (("authorization", "Bearer " + token),)
    else:
        sys.exit(__doc__)
    topics = stubs.AdminStub(channel).ListTopics(pb.ListTopicsRequest(), metadata=metadata, timeout=10)
    for t in topics.topics:
        print(t.name)


if __name__ == "__main__":
    main()
