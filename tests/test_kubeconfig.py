"""Kubernetes credentials: kubeconfig files as client-go reads them, the in-cluster service
account, the token re-read as client-go re-reads it, and the files requests needs.

Certificates are made by `openssl` for the test (as in test_nomad_tls.py): a CA, a server
certificate for 127.0.0.1 and a client certificate; one test serves TLS on loopback and
requires the client certificate.
"""

import base64
import json
import os
import shutil
import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blinkt_agent.errors import ConfigError
from blinkt_agent.sources.kubernetes.credentials import Credentials, FileToken
from blinkt_agent.sources.kubernetes.kubeconfig import (
    default_kubeconfig,
    in_cluster,
    kubeconfig_paths,
    load_kubeconfig,
    parse_kubeconfig,
)

needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
TOKEN = "k10c2d2a1b2c3d4e5f6::server:0123456789abcdef"  # k3s's token shape


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=k3s-server-ca", cwd=d)  # fmt: skip
    for name, cn, san in (
        ("server", "kube-apiserver", "IP:127.0.0.1"),
        ("client", "system:admin", "DNS:admin"),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/O=system:masters/CN={cn}", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=d)  # fmt: skip
    return d


def b64(path):
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(cluster=None, user=None, context=None, current=None, name="default"):
    """A kubeconfig shaped like k3s's /etc/rancher/k3s/k3s.yaml."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster or {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": name, "context": context or {"cluster": name, "user": name}}],
        "current-context": name if current is None else current,
        "preferences": {},
        "users": [{"name": name, "user": user if user is not None else {"token": TOKEN}}],
    }


def k3s_yaml(pki):
    cluster = {
        "certificate-authority-data": b64(pki / "ca.pem"),
        "server": "https://127.0.0.1:6443",
    }
    user = {
        "client-certificate-data": b64(pki / "client.pem"),
        "client-key-data": b64(pki / "client.key"),
    }
    return kubeconfig(cluster, user)


def write(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return str(path)


def refused(document, path="/etc/rancher/k3s/k3s.yaml", **kwargs):
    with pytest.raises(ConfigError) as caught:
        parse_kubeconfig(yaml.safe_dump(document), path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and TOKEN not in message
    return message


# --- kubeconfig files --------------------------------------------------------------------------


@needs_openssl
def test_k3s_kubeconfig_gives_server_inline_ca_and_client_certificate(pki, tmp_path):
    path = write(tmp_path / "k3s.yaml", k3s_yaml(pki))
    creds = load_kubeconfig(path)
    assert (creds.server, creds.skip_verify, creds.token, creds.namespace) == (
        "https://127.0.0.1:6443", False, None, "default"
    )  # fmt: skip
    assert creds.ca_data == (pki / "ca.pem").read_bytes()
    assert creds.client_key_data == (pki / "client.key").read_bytes()
    assert "PRIVATE" not in repr(creds) and path in creds.source


@needs_openssl
def test_inline_pem_goes_to_private_files_that_close_removes(pki, tmp_path):
    creds = load_kubeconfig(write(tmp_path / "k3s.yaml", k3s_yaml(pki)))
    with creds.tls_files(str(tmp_path)) as files:
        directory = files.directory
        assert directory is not None and stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert isinstance(files.verify, str) and files.cert is not None
        for name in (files.verify, *files.cert):
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
        with open(files.cert[1], "rb") as key:
            assert key.read() == (pki / "client.key").read_bytes()
    assert not os.path.exists(directory)


class Version(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@needs_openssl
def test_requests_verifies_the_server_and_presents_the_client_certificate(pki, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Version)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki / "ca.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    document = k3s_yaml(pki)
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        creds = parse_kubeconfig(yaml.safe_dump(document), str(tmp_path / "k3s.yaml"))
        with creds.tls_files() as files:
            answer = requests.get(
                f"{creds.server}/version", verify=files.verify, cert=files.cert, timeout=5
            )
        assert answer.json()["gitVersion"] == "v1.31.4+k3s1"
    finally:
        server.shutdown()


def test_a_token_user_supplies_the_token_and_never_shows_it(tmp_path):
    creds = load_kubeconfig(write(tmp_path / "config", kubeconfig()))
    assert creds.token is not None and creds.token() == TOKEN
    assert TOKEN not in repr(creds)
    with creds.tls_files() as files:
        assert (files.verify, files.cert, files.directory) == (True, None, None)


@needs_openssl
def test_file_paths_resolve_against_the_kubeconfigs_directory(pki, tmp_path):
    shutil.copytree(pki, tmp_path / "pki")
    (tmp_path / "kube" / "token").parent.mkdir()
    (tmp_path / "kube" / "token").write_text(TOKEN + "\n")
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": "../pki/ca.pem"}
    user = {
        "client-certificate": "../pki/client.pem",
        "client-key": str(tmp_path / "pki" / "client.key"),
        "tokenFile": "token",
    }
    creds = load_kubeconfig(write(tmp_path / "kube" / "config", kubeconfig(cluster, user)))
    assert creds.ca_file == str(tmp_path / "kube" / ".." / "pki" / "ca.pem")
    assert creds.client_cert_file == str(tmp_path / "kube" / ".." / "pki" / "client.pem")
    assert creds.client_key_file == str(tmp_path / "pki" / "client.key")
    assert creds.token is not None and creds.token() == TOKEN
    assert isinstance(creds.token, FileToken) and creds.token.path == tmp_path / "kube" / "token"


def test_a_context_can_be_chosen_and_an_unknown_one_is_named(tmp_path):
    document = kubeconfig(current="")
    document["contexts"].append({"name": "pi", "context": {"cluster": "default", "user": "default",
                                                          "namespace": "lights"}})  # fmt: skip
    path = write(tmp_path / "config", document)
    assert load_kubeconfig(path, context="pi").namespace == "lights"
    with pytest.raises(ConfigError, match=r"no context 'tv' \(kubernetes.context\)"):
        load_kubeconfig(path, context="tv")
    with pytest.raises(
        ConfigError, match=r"has no current-context and kubernetes\.context is not set"
    ):
        load_kubeconfig(path)


def test_several_files_merge_as_client_go_first_file_wins(tmp_path):
    first = kubeconfig(current="")
    second = kubeconfig(user={"token": "second"}, current="default")
    second["clusters"].append({"name": "lab", "cluster": {"server": "https://10.0.0.9:6443"}})
    second["contexts"].append({"name": "lab", "context": {"cluster": "lab", "user": "default"}})
    paths = [write(tmp_path / "a", first), str(tmp_path / "missing"), write(tmp_path / "b", second)]
    creds = load_kubeconfig(":".join(paths))
    assert creds.token is not None and creds.token() == TOKEN  # "default" user from the first
    assert load_kubeconfig(paths, context="lab").server == "https://10.0.0.9:6443"


def test_a_missing_file_says_so_with_its_path(tmp_path):
    with pytest.raises(ConfigError, match=f"kubernetes.kubeconfig: {tmp_path}/nope does not exist"):
        load_kubeconfig(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"none of .*/a, .*/b exists"):
        load_kubeconfig(f"{tmp_path}/a:{tmp_path}/b")
    with pytest.raises(ConfigError, match=f"cannot read {tmp_path}: Is a directory"):
        load_kubeconfig(str(tmp_path))


def test_list_paths_drop_empties_and_repeats_and_the_default_is_kubeconfig_or_home():
    assert kubeconfig_paths("a::b:a") == ["a", "b"]
    assert default_kubeconfig({"KUBECONFIG": "x:y", "HOME": "/root"}) == "x:y"
    assert default_kubeconfig({"HOME": "/home/pi"}) == "/home/pi/.kube/config"


# --- what is missing or refused ------------------------------------------------------------


def test_a_cluster_without_server_is_named():
    message = refused(kubeconfig(cluster={"insecure-skip-tls-verify": True}))
    assert message == (
        "kubernetes.kubeconfig: /etc/rancher/k3s/k3s.yaml: clusters[name=default].cluster.server:"
        " missing (the API server's URL)"
    )


def test_a_user_with_nothing_to_authenticate_with_is_named():
    assert refused(kubeconfig(user={})).endswith(
        "users[name=default].user: no token, tokenFile or client certificate to authenticate with"
    )
    assert refused(kubeconfig(context={"cluster": "default"})).endswith(
        "contexts[name=default].context.user: missing: a token or client certificate is needed"
    )
    assert "no cluster 'lab'" in refused(kubeconfig(context={"cluster": "lab", "user": "default"}))


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        (
            "exec",
            {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"},
            "not supported on a Pi agent",
        ),
        ("auth-provider", {"name": "oidc"}, "not supported on a Pi agent"),
        ("username", "admin", "the API server has none since 1.19"),
        ("password", "hunter2", "the API server has none since 1.19"),
        ("as", "system:admin", "impersonation is not supported"),
    ],
)
def test_plugins_basic_auth_and_impersonation_are_refused_in_one_line(field, value, why):
    message = refused(kubeconfig(user={"token": TOKEN, field: value}))
    assert f"users[name=default].user.{field}: " in message and why in message
    assert "hunter2" not in message


def test_bad_inline_data_is_named_without_the_material():
    key = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nsecret\n").decode()
    message = refused(
        kubeconfig(name="pi", user={"client-certificate-data": "%%%", "client-key-data": key})
    )
    assert message.endswith("users[name=pi].user.client-certificate-data: not base64")
    message = refused(kubeconfig(name="pi", user={"client-key-data": "bm90IGEga2V5"}))
    assert message.endswith(
        "users[name=pi].user.client-key-data: not PEM (base64 of a PEM file is expected)"
    )


def test_a_certificate_without_its_key_and_unreadable_files_are_named(tmp_path):
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    assert refused(kubeconfig(user={"client-certificate-data": pem})).endswith(
        "client-key (or client-key-data) is missing"
    )
    user = {"client-certificate-data": pem, "client-key": "pi.key"}
    assert refused(kubeconfig(user=user), str(tmp_path / "config")).endswith(
        f"users[name=default].user.client-key: cannot read {tmp_path}/pi.key: No such file or "
        "directory"
    )


def test_insecure_skip_verify_is_off_by_default_and_refused_beside_a_ca():
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    plain = parse_kubeconfig(yaml.safe_dump(kubeconfig()), "/k")
    assert plain.skip_verify is False and plain.tls_files().verify is True
    insecure = kubeconfig(cluster={"server": "https://pi:6443", "insecure-skip-tls-verify": True})
    assert parse_kubeconfig(yaml.safe_dump(insecure), "/k").tls_files().verify is False
    both = {
        "server": "https://pi:6443",
        "insecure-skip-tls-verify": True,
        "certificate-authority-data": pem,
    }
    assert "client-go refuses both" in refused(kubeconfig(cluster=both))


def test_a_server_without_scheme_gets_https_when_tls_is_configured():
    insecure = {"server": "pi.local:6443", "insecure-skip-tls-verify": True}
    assert (
        parse_kubeconfig(yaml.safe_dump(kubeconfig(insecure)), "/k").server
        == "https://pi.local:6443"
    )
    assert (
        parse_kubeconfig(yaml.safe_dump(kubeconfig({"server": "pi:8080"})), "/k").server
        == "http://pi:8080"
    )
    assert "not an http(s) URL" in refused(kubeconfig({"server": "ftp://pi"}))


def test_junk_yaml_is_named_without_quoting_the_line():
    with pytest.raises(ConfigError) as caught:
        parse_kubeconfig(f"users:\n- name: pi\n  user: {{token: {TOKEN}\n", "/k")
    assert str(caught.value).startswith("kubernetes.kubeconfig: /k: not valid YAML: ")
    assert TOKEN not in str(caught.value)
    with pytest.raises(ConfigError, match="not a kubeconfig"):
        parse_kubeconfig("- just\n- a list\n", "/k")


kube_keys = st.sampled_from(
    ["clusters", "users", "contexts", "current-context", "name", "cluster", "user", "context",
     "server", "token", "tokenFile", "client-key-data", "certificate-authority",
     "insecure-skip-tls-verify", "exec"]
)  # fmt: skip
yamlish = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=10)
    | st.sampled_from(["default", "https://pi:6443"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(kube_keys | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=15,
)


values = yamlish | st.sampled_from(["default", "https://pi:6443", "pi:6443", "bm90IHBlbQ==", "x/y"])
near_kubeconfigs = st.builds(
    kubeconfig,
    cluster=st.fixed_dictionaries(
        {"server": values},
        optional={k: values for k in ("certificate-authority-data", "certificate-authority",
                                      "insecure-skip-tls-verify", "tls-server-name", "proxy-url")},
    ),
    user=st.fixed_dictionaries(
        {},
        optional={k: values for k in ("token", "tokenFile", "client-certificate-data",
                                      "client-key-data", "client-key", "exec", "username")},
    ),
    context=st.fixed_dictionaries(
        {}, optional={k: values for k in ("cluster", "user", "namespace")}
    ),
    current=values,
).map(yaml.safe_dump)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    near_kubeconfigs.map(str.encode)
    | st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | yamlish.map(yaml.safe_dump).map(str.encode)
)
def test_any_bytes_give_credentials_or_a_config_error(data):
    try:
        creds = parse_kubeconfig(data, "/nonexistent/config")
    except ConfigError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(creds, Credentials) and creds.server.startswith(("https://", "http://"))


# --- in-cluster --------------------------------------------------------------------------------

ENV = {"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def service_account(
    root, token=TOKEN, ca=b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
):
    root.mkdir(parents=True, exist_ok=True)
    (root / "token").write_text(token)
    (root / "ca.crt").write_bytes(ca)
    (root / "namespace").write_text("blinkt\n")
    return root


def test_in_cluster_uses_the_service_account_and_the_service_address(tmp_path):
    root = service_account(tmp_path / "sa")
    creds = in_cluster(ENV, root)
    assert (creds.server, creds.ca_file, creds.namespace) == (
        "https://10.43.0.1:443",
        str(root / "ca.crt"),
        "blinkt",
    )
    assert creds.token is not None and creds.token() == TOKEN and TOKEN not in repr(creds)
    ipv6 = in_cluster(
        {**ENV, "KUBERNETES_SERVICE_HOST": "fd00::1", "POD_NAMESPACE": "kube-system"}, root
    )
    assert (ipv6.server, ipv6.namespace) == ("https://[fd00::1]:443", "kube-system")


def test_in_cluster_needs_the_service_variables_and_a_token(tmp_path):
    with pytest.raises(
        ConfigError, match="KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
    ):
        in_cluster({}, tmp_path)
    with pytest.raises(
        ConfigError, match=f"cannot read {tmp_path}/token: No such file or directory"
    ):
        in_cluster(ENV, tmp_path)
    with pytest.raises(ConfigError, match="is empty"):
        in_cluster(ENV, service_account(tmp_path / "sa", token="\n"))


def test_in_cluster_without_a_usable_ca_trusts_the_system_as_client_go_does(tmp_path):
    creds = in_cluster(ENV, service_account(tmp_path / "sa", ca=b"garbage"))
    assert creds.ca_file == "" and creds.tls_files().verify is True


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_token_is_read_again_after_fifty_seconds_as_client_go_does(tmp_path):
    clock = Clock()
    root = service_account(tmp_path / "sa", token="first")
    token = in_cluster(ENV, root, clock=clock).token
    assert token is not None and token() == "first"
    (root / "token").write_text("second")  # the kubelet rotated it
    clock.now += 49.9
    assert token() == "first"
    clock.now += 0.1
    assert token() == "second"


def test_a_failed_re_read_keeps_the_last_token_and_a_401_forces_a_new_read(tmp_path):
    clock = Clock()
    path = tmp_path / "token"
    path.write_text("first")
    token = FileToken(path, "kubernetes.kubeconfig", clock=clock)
    assert token() == "first"
    path.unlink()
    clock.now += 60
    assert token() == "first"  # "Unable to rotate token": the old one goes on
    path.write_text("second")
    token.reset_if_read_before(clock.now + 1)  # a request started after the read got a 401
    assert token() == "second"


def test_a_token_file_beside_a_token_falls_back_to_the_token(tmp_path):
    user = {"token": "static", "tokenFile": "absent"}
    creds = load_kubeconfig(write(tmp_path / "config", kubeconfig(user=user)))
    assert creds.token is not None and creds.token() == "static"
    (tmp_path / "absent").write_text("from-file\n")
    assert isinstance(creds.token, FileToken)
    assert creds.token() == "from-file"
