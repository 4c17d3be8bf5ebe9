"""``--compact-objects``: the emulator keeps objects as JSON bytes and answers exactly as with dicts."""

import pytest

from kubesim.cluster import KubeSim
from kubesim.store import CompactEntry, Settings

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def two_emulators(raw_api):
    started = []
    for compact in (False, True):
        sim = KubeSim(run_controllers=False, settings=Settings(compact_objects=compact))
        started.append((sim, raw_api(sim.start())))
    yield started
    for sim, _api in started:
        sim.stop()


def without_volatile(obj):
    metadata = {k: v for k, v in obj["metadata"].items() if k not in ("uid", "creationTimestamp", "managedFields")}
    return dict(obj, metadata=metadata)


def test_compact_store_answers_like_the_dict_store(two_emulators):
    answers = []
    for sim, api in two_emulators:
        for number in range(5):
            code, _, _ = api.post(CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "cm-%d" % number, "labels": {"n": str(number % 2)}}, "data": {"k": "<%d>" % number}})
            assert code == 201
        code, _, _ = api.patch(CM + "/cm-1", {"data": {"k": "patched"}})
        assert code == 200
        code, _, _ = api.delete(CM + "/cm-4")
        assert code == 200
        _, page1, _ = api.get(CM + "?limit=2")
        _, page2, _ = api.get(CM + "?limit=2&continue=" + page1["metadata"]["continue"])
        _, selected, _ = api.get(CM + "?labelSelector=n%3D1")
        _, got, _ = api.get(CM + "/cm-1")
        answers.append(([without_volatile(o)["metadata"]["name"] for o in page1["items"] + page2["items"]],
                        [without_volatile(o) for o in selected["items"]], without_volatile(got)))
    assert answers[0] == answers[1]
    assert answers[1][2]["data"] == {"k": "patched"}
    compact_sim = two_emulators[1][0]
    stored = compact_sim.store._buckets[("", "configmaps")]  # pylint: disable=protected-access
    assert stored and all(isinstance(entry, CompactEntry) for entry in stored.values())
    assert all(entry._obj is None for entry in stored.values())  # pylint: disable=protected-access
