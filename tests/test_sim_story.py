"""The demo story, played fast against a real SimCluster."""

import threading

from blinkt_agent.sim.story import STEPS, Step, Story


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
    assert seen == list(STEPS)
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
    assert len(titles) == len(STEPS) + 1
