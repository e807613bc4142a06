"""SimKubernetes' authentication and authorization: TLS, client certificates, bearer and
service-account tokens, 401 and 403 bodies, RBAC from a manifest.

Certificates are made by `openssl` for the test, as a k3s server has them: a CA for the
server certificate (127.0.0.1) and a client CA whose certificates name user (CN) and
groups (O).
"""

import shutil
import ssl

import pytest
import requests

from blinkt_agent.sim.kubernetes import SimKubernetes, TLSFiles
from tests.k8s_helpers import Watch, get, make_pki

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")

SA = "system:serviceaccount:blinkt-agent:blinkt-agent"
MANIFEST = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: blinkt-agent, namespace: blinkt-agent}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: blinkt-agent}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [nodes]
  resourceNames: [pi-01]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: blinkt-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: blinkt-agent}
subjects:
- {kind: ServiceAccount, name: blinkt-agent, namespace: blinkt-agent}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: node-reader, namespace: kube-system}
rules:
- {apiGroups: [""], resources: [pods], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leds, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: node-reader}
subjects:
- {kind: Group, name: blinkt}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gone}
subjects:
- {kind: User, name: ghost}
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("k8s-pki"))


@pytest.fixture
def k3s(pki):
    tls = TLSFiles(pki / "server.pem", pki / "server.key", pki / "client-ca.pem")
    with SimKubernetes(tls=tls, tokens={"agent-token": SA}) as sim:
        sim.load_rbac(MANIFEST)
        sim.add_node("pi-01")
        sim.add_node("pi-02")
        sim.add_pod("kube-system", "coredns-1", "pi-01")
        yield sim


def as_cert(sim, pki, name, path):
    cert = (pki / f"{name}.pem", pki / f"{name}.key")
    return requests.get(sim.url + path, cert=cert, verify=pki / "server-ca.pem", timeout=5)


def as_token(sim, pki, token, path, **params):
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(
        sim.url + path, headers=headers, params=params, verify=pki / "server-ca.pem", timeout=5
    )


# -- TLS and authentication ----------------------------------------------------------------


def test_https_with_a_server_certificate_from_the_ca(k3s, pki):
    assert k3s.url.startswith("https://127.0.0.1:")
    assert as_token(k3s, pki, k3s.admin_token, "/api/v1/nodes").ok
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(k3s.url + "/version", timeout=5)  # the system CAs do not know it


def test_a_client_certificate_is_the_user_cn_with_groups_o(k3s, pki):
    response = as_cert(k3s, pki, "agent", "/api/v1/nodes")
    assert response.status_code == 403
    assert response.json()["message"] == (
        'nodes is forbidden: User "blinkt-agent" cannot list resource "nodes" '
        'in API group "" at the cluster scope'
    )
    assert as_cert(k3s, pki, "agent", "/api/v1/namespaces/kube-system/pods").ok  # group blinkt


def test_system_masters_may_do_anything(k3s, pki):
    assert as_cert(k3s, pki, "admin", "/api/v1/nodes").ok
    assert as_cert(k3s, pki, "admin", "/api/v1/namespaces/kube-system/pods/coredns-1").ok


def test_a_client_certificate_from_another_ca_fails_the_handshake(k3s, pki):
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        as_cert(k3s, pki, "stranger", "/api/v1/nodes")


def test_without_credentials_k3s_answers_401_unauthorized(k3s, pki):
    response = requests.get(k3s.url + "/api/v1/pods", verify=pki / "server-ca.pem", timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert "X-Kubernetes-Pf-Flowschema-Uid" not in response.headers  # before flow control


def test_an_unknown_bearer_token_is_401_even_with_anonymous_auth():
    with SimKubernetes(anonymous=True) as sim:
        assert get(sim, "/api/v1/pods", token="nope").status_code == 401
        assert requests.get(sim.url + "/version", timeout=5).ok  # anonymous: public info


def test_anonymous_requests_are_system_anonymous_when_enabled():
    with SimKubernetes(anonymous=True) as sim:
        response = requests.get(sim.url + "/api/v1/namespaces/default/pods", timeout=5)
    assert response.status_code == 403
    assert response.json()["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" '
        'in API group "" in the namespace "default"'
    )


def test_a_service_account_token_is_the_service_account_user(k3s, pki):
    assert as_token(k3s, pki, "agent-token", "/api/v1/pods").ok
    token = k3s.service_account_token("blinkt-agent", "blinkt-agent")
    assert len(as_token(k3s, pki, token, "/api/v1/pods").json()["items"]) == 1
    assert (
        as_token(
            k3s, pki, k3s.service_account_token("blinkt-agent", "nobody"), "/api/v1/pods"
        ).status_code
        == 401
    )


# -- 403 bodies and RBAC -------------------------------------------------------------------


def test_a_403_is_a_forbidden_status_naming_user_verb_resource_and_scope():
    with SimKubernetes(tokens={"t": SA}) as sim:
        response = get(sim, "/api/v1/pods", token="t")
    assert response.status_code == 403
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods is forbidden: User "system:serviceaccount:blinkt-agent:blinkt-agent" '
        'cannot list resource "pods" in API group "" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    assert "X-Kubernetes-Pf-Flowschema-Uid" in response.headers


def test_rbac_from_a_manifest_allows_exactly_its_rules(k3s, pki):
    def code(path, **params):
        return as_token(k3s, pki, "agent-token", path, **params).status_code

    assert code("/api/v1/pods") == 200
    assert code("/api/v1/namespaces/kube-system/pods/coredns-1") == 200
    assert code("/api/v1/pods", watch="1", timeoutSeconds="1") == 200
    assert code("/api/v1/nodes/pi-01") == 200  # resourceNames
    assert code("/api/v1/nodes/pi-02") == 403
    assert code("/api/v1/nodes") == 403  # a named rule does not allow a list
    assert code("/api/v1/nodes", fieldSelector="metadata.name=pi-01") == 403  # nor a list of one


def test_a_named_get_forbidden_names_the_object(k3s, pki):
    body = as_token(k3s, pki, "agent-token", "/api/v1/nodes/pi-02").json()
    assert body["message"] == (
        f'nodes "pi-02" is forbidden: User "{SA}" cannot get resource "nodes" '
        'in API group "" at the cluster scope'
    )
    assert body["details"] == {"name": "pi-02", "kind": "nodes"}


def test_a_binding_to_a_missing_role_is_named_in_the_denial(k3s, pki):
    k3s.add_token("ghost-token", "ghost")
    body = as_token(k3s, pki, "ghost-token", "/api/v1/pods").json()
    assert body["message"].endswith(
        'at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found'
    )


def test_a_role_binding_applies_only_in_its_namespace(k3s, pki):
    assert as_cert(k3s, pki, "agent", "/api/v1/namespaces/kube-system/pods").ok
    body = as_cert(k3s, pki, "agent", "/api/v1/namespaces/default/pods").json()
    assert body["message"].endswith(
        'cannot list resource "pods" in API group "" in the namespace "default"'
    )


def test_the_rbac_control_call_loads_a_manifest(k3s, pki):
    response = requests.post(
        k3s.url + "/_sim/rbac", json={"yaml": MANIFEST}, verify=pki / "server-ca.pem", timeout=5
    )
    assert "ClusterRole/blinkt-agent" in response.json()["loaded"]


def test_a_watch_needs_the_watch_verb():
    manifest = MANIFEST.replace("verbs: [get, list, watch]", "verbs: [get, list]")
    with SimKubernetes(tokens={"t": SA}) as sim:
        sim.load_rbac(manifest)
        assert get(sim, "/api/v1/pods", token="t").ok
        with Watch(sim, token="t") as w:
            assert w.response.status_code == 403
            assert 'cannot watch resource "pods"' in w.response.json()["message"]


def test_the_tls_context_asks_for_but_does_not_require_a_client_certificate(pki):
    context = TLSFiles(pki / "server.pem", pki / "server.key", pki / "client-ca.pem").context()
    assert context.verify_mode == ssl.CERT_OPTIONAL
