"""The demo stories, played fast against a real SimCluster and a real SimKubernetes."""

import threading

import pytest

from blinkt_agent.sim import SimCluster
from blinkt_agent.sim.kubernetes import SimKubernetes
from blinkt_agent.sim.kubernetes.story import STEPS as K8S_STEPS
from blinkt_agent.sim.kubernetes.story import KubeStory
from blinkt_agent.sim.story import STEPS, Step, Story, steps_for

SINGLE = steps_for(STEPS, None)  # what the demo plays without --mode


def statuses(cluster):
    allocs = cluster.nomad.allocs(cluster.local_node_id)
    return {a["Name"]: (a["ClientStatus"], a["DesiredStatus"]) for a in allocs}


def test_story_lasts_one_to_one_and_a_half_minutes(sim_cluster):
    assert 60 <= Story(sim_cluster).duration <= 90


def test_story_offers_the_resource_views():
    assert {"allocations", "cpu", "memory"} <= {step.mode for step in STEPS}


def test_story_played_fast_ends_in_the_scripted_state(sim_cluster):
    seen: list[Step] = []
    Story(sim_cluster).play(threading.Event(), speed=50, on_step=seen.append)
    assert seen == list(SINGLE)
    final = statuses(sim_cluster)
    assert final["web.web[0]"] == ("running", "run")
    assert final["web.web[2]"] == ("complete", "stop")
    assert final["api.api[1]"] == ("failed", "run")
    assert final["cache.cache[5]"] == ("complete", "stop")
    assert not sim_cluster.nomad.outage


def test_story_overflows_the_leds_and_has_an_outage(sim_cluster):
    live, outages = [], []

    def watch(step):
        shown = [s for s in statuses(sim_cluster).values() if s[0] in ("pending", "running")]
        live.append(len(shown))
        outages.append(sim_cluster.nomad.outage)

    Story(sim_cluster).play(threading.Event(), speed=100, on_step=watch)
    assert max(live) > 8 and any(outages)


def test_stopping_a_looping_story_brings_nomad_back(sim_cluster):
    stop = threading.Event()

    def stop_in_outage(step):
        if sim_cluster.nomad.outage:
            stop.set()

    Story(sim_cluster).play(stop, speed=100, on_step=stop_in_outage, loop=True)
    assert not sim_cluster.nomad.outage


def test_a_second_pass_starts_from_a_clean_node(sim_cluster):
    story = Story(sim_cluster)
    story.play(threading.Event(), speed=100)
    story.reset()
    assert statuses(sim_cluster) == {}


def test_a_looping_story_starts_over(sim_cluster):
    stop, titles = threading.Event(), []

    def count(step):
        titles.append(step.title)
        if titles.count(STEPS[0].title) == 2:
            stop.set()

    Story(sim_cluster).play(stop, speed=200, on_step=count, loop=True)
    assert len(titles) == len(SINGLE) + 1


def test_steps_about_other_nodes_are_played_only_in_the_cluster_view():
    assert not any(step.cluster for step in steps_for(STEPS, None))
    assert not any(step.cluster for step in steps_for(STEPS, "cpu"))
    nodes = steps_for(STEPS, "nodes")
    assert any(step.cluster for step in nodes) and not any(step.only_a_view for step in nodes)


PIS = ("pi-01", "pi-02", "pi-03", "pi-04")


def test_the_cluster_story_drains_a_node_and_takes_another_down_and_back():
    with SimCluster(nodes=PIS) as cluster:
        states = []

        def watch(step):
            states.append({n["name"]: n["status"] for n in cluster.nomad.state()["nodes"]})

        Story(cluster, steps=steps_for(STEPS, "nodes")).play(threading.Event(), speed=200,
                                                             on_step=watch)  # fmt: skip
        assert any(s["pi-04"] == "down" for s in states) and states[-1]["pi-04"] == "ready"
        drained = [n for n in cluster.nomad.state()["nodes"] if n["name"] == "pi-03"]
        assert drained[0]["drain"] is True


# -- the k3s story ---------------------------------------------------------------------------


@pytest.fixture
def k3s():
    with SimKubernetes() as sim:
        for name in PIS:
            sim.add_node(name)
        yield sim


def statuses_k8s(sim, node="pi-01"):
    from blinkt_agent.sim.kubernetes import print_pod

    return sorted(print_pod(p).status for p in sim.pods() if p["spec"].get("nodeName") == node)


def test_the_k3s_story_lasts_one_to_one_and_a_half_minutes(k3s):
    assert 60 <= KubeStory(k3s).duration <= 95


def test_the_k3s_story_shows_what_the_issue_names(k3s):
    """A Deployment scaled up, a CrashLoopBackOff, a pod Terminating, more pods than LEDs,
    an API-server outage."""
    seen, outage = [], []

    def watch(step):
        seen.append(statuses_k8s(k3s))
        outage.append(k3s.api.gone)

    KubeStory(k3s).play(threading.Event(), speed=200, on_step=watch)
    flat = [status for statuses in seen for status in statuses]
    assert {"ContainerCreating", "CrashLoopBackOff", "Terminating"} <= set(flat)
    assert max(len(s) for s in seen) > 8 and any(outage) and not k3s.api.gone
    assert {"cpu", "memory"} <= {step.mode for step in K8S_STEPS}


def test_a_second_k3s_pass_starts_from_an_empty_node(k3s):
    story = KubeStory(k3s, steps=steps_for(K8S_STEPS, "nodes"))
    story.play(threading.Event(), speed=200)
    story.reset()
    assert k3s.pods() == []
    assert all(not n["spec"].get("unschedulable") for n in k3s.nodes())
