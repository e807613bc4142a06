"""TLS to Nomad: verification on by default, CA bundle, server name, mutual TLS.

A real TLS server on loopback with certificates made by `openssl` for the test:
a CA, a server certificate for the name Nomad uses (client.global.nomad), and
a client certificate for mutual TLS.
"""

import json
import shutil
import ssl
import subprocess
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from blinkt_agent.errors import Unreachable
from blinkt_agent.sources.nomad.client import TLS, NomadClient

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")

SERVER_NAME = "client.global.nomad"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=Nomad Agent CA", cwd=d)  # fmt: skip
    for name, cn in (("server", SERVER_NAME), ("client", "blinkt-agent")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{cn}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=d)  # fmt: skip
    return d


class AgentSelf(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"stats": {"client": {"node_id": "tls-node"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_tls(pki, require_client_cert):
    server = ThreadingHTTPServer(("127.0.0.1", 0), AgentSelf)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def nomad_tls(pki):
    server, url = serve_tls(pki, require_client_cert=False)
    yield url
    server.shutdown()


def test_verification_is_on_by_default(nomad_tls):
    with pytest.raises(Unreachable, match="TLS"):
        NomadClient(nomad_tls).local_node_id()


def test_ca_bundle_and_server_name_verify_nomads_certificate(nomad_tls, pki):
    tls = TLS(ca_cert=str(pki / "ca.pem"), server_name=SERVER_NAME)
    assert NomadClient(nomad_tls, tls=tls).local_node_id() == "tls-node"


def test_ca_bundle_without_the_server_name_refuses_the_ip_address(nomad_tls, pki):
    with pytest.raises(Unreachable, match="TLS"):
        NomadClient(nomad_tls, tls=TLS(ca_cert=str(pki / "ca.pem"))).local_node_id()


def test_skip_verify_accepts_any_certificate(nomad_tls):
    assert NomadClient(nomad_tls, tls=TLS(skip_verify=True)).local_node_id() == "tls-node"


def test_mutual_tls_with_a_client_certificate(pki):
    server, url = serve_tls(pki, require_client_cert=True)
    try:
        base = TLS(ca_cert=str(pki / "ca.pem"), server_name=SERVER_NAME)
        with pytest.raises(Unreachable):
            NomadClient(url, tls=base).local_node_id()
        tls = replace(base, client_cert=str(pki / "client.pem"), client_key=str(pki / "client.key"))
        assert NomadClient(url, tls=tls).local_node_id() == "tls-node"
    finally:
        server.shutdown()
