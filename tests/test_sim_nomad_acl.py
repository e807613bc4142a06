"""The simulator's ACL model against acl/policy.go and acl/acl.go: parsing and checks."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent.sim.nomad.acl import ACL, ACLStore, PolicyError, TokenUnknown, parse_policy


def acl(*rules):
    return ACL([parse_policy(r) for r in rules])


def test_policy_read_expands_to_read_job_and_list_jobs():
    checks = acl('namespace "default" { policy = "read" }')
    assert checks.allow_ns_op("default", "read-job") and checks.allow_ns_op("default", "list-jobs")
    assert not checks.allow_ns_op("default", "submit-job")
    assert not checks.allow_ns_op("other", "read-job")


def test_write_implies_read_for_agent_and_node():
    checks = acl('agent { policy = "write" }\nnode { policy = "write" }')
    assert checks.allow_agent_read() and checks.allow_node_read()


def test_deny_wins_when_policies_are_merged():
    checks = acl('node { policy = "read" }', 'node { policy = "deny" }')
    assert not checks.allow_node_read()
    checks = acl(
        'namespace "default" { policy = "deny" }',
        'namespace "default" { capabilities = ["read-job"] }',
    )
    assert not checks.allow_ns_op("default", "read-job")


def test_all_namespaces_sentinel_allows_when_any_namespace_does():
    checks = acl('namespace "team-a" { capabilities = ["read-job"] }')
    assert checks.allow_ns_op("*", "read-job")
    assert not checks.allow_ns_op("*", "submit-job")


def test_closest_glob_wins():
    checks = acl(
        'namespace "*" { capabilities = ["read-job"] }',
        'namespace "prod-*" { capabilities = ["list-jobs"] }',
    )
    assert checks.allow_ns_op("dev", "read-job")
    assert not checks.allow_ns_op("prod-web", "read-job")  # "prod-*" is closer than "*"


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        ("# only a comment", "Invalid policy"),
        ('agent { policy = "admin" }', "Invalid agent policy"),
        ('namespace "a b" { policy = "read" }', "Invalid namespace name"),
        ('namespace "x" { capabilities = ["fly"] }', "Invalid namespace capability 'fly'"),
        ('nodes { policy = "read" }', "Invalid or duplicate policy keys: nodes"),
        ('node { policy = "read"', "missing }"),
        ("node { policy = read }", "expected a string or a list"),
    ],
)
def test_invalid_policies_are_refused_like_nomad(rules, error):
    with pytest.raises(PolicyError, match=error):
        parse_policy(rules)


def test_comments_and_other_blocks_are_accepted():
    policy = parse_policy(
        """
        # a comment
        // another
        /* and a
           block comment */
        operator { policy = "read" }
        node_pool "default" { policy = "read" }
        node { policy = "read" }
        """
    )
    assert policy.node == "read"


def test_tokens_resolve_to_their_policies_and_missing_policies_are_ignored():
    store = ACLStore()
    store.set_policy("nodes", 'node { policy = "read" }')
    secret = store.add_token(["nodes", "does-not-exist"])
    acl, anonymous = store.resolve(secret), store.resolve("")
    assert acl is not None and acl.allow_node_read()
    assert anonymous is not None and not anonymous.allow_node_read()  # no "anonymous" policy
    with pytest.raises(TokenUnknown):
        store.resolve("00000000-0000-0000-0000-000000000000")


@given(st.text(max_size=200))
def test_any_text_parses_or_is_a_policy_error(text):
    with contextlib.suppress(PolicyError):
        parse_policy(text)


words = st.sampled_from(["agent", "node", "namespace", "policy", "capabilities", "operator"])
pieces = st.lists(
    st.one_of(words, st.sampled_from(['"read"', '"*"', '["read-job"]', "{", "}", "=", ","])),
    max_size=20,
)


@given(pieces)
def test_token_soup_parses_or_is_a_policy_error(parts):
    with contextlib.suppress(PolicyError):
        parse_policy(" ".join(parts))
