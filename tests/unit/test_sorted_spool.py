"""SortedSpool: an external merge sort whose memory does not grow with the records, merge walks over it, and the resource list built on it."""

import gzip
import json
import os
import random

from ansible_collections.kubesafe.k8s.plugins.module_utils import sorted_spool
from ansible_collections.kubesafe.k8s.plugins.module_utils.archive import velero_format
from ansible_collections.kubesafe.k8s.plugins.module_utils.sorted_spool import SortedSpool


def records(count, seed=7):
    generator = random.Random(seed)
    # Names Kubernetes allows in some kinds, and what sorts differently by byte and by character class.
    odd = ["a\nb", "Z", "z", "\u00e9t\u00e9", "a-b/c", "a/b", "system:viewer", "\U0001f600"]
    return [("v1/%s" % generator.choice(("ConfigMap", "Secret", "Pod")),
             "%s/%s" % (generator.choice(odd), generator.getrandbits(40))) for _index in range(count)]


def test_iterates_in_sorted_order_across_spilled_runs():
    data = records(2500)
    with SortedSpool("test", memory_records=300) as spool:
        for record in data:
            spool.add(record)
        assert spool.spilled_runs == 8  # 2,400 records went to disk in runs of 300
        assert len(spool) == 2500
        assert list(spool) == sorted(data)


def test_extend_spills_as_add_does():
    data = records(2500)
    with SortedSpool("test", memory_records=300) as spool:
        for start in range(0, len(data), 700):  # batches larger than what memory holds, and not aligned with it
            spool.extend(data[start:start + 700])
        assert spool.spilled_runs == 8
        assert len(spool) == 2500
        assert list(spool) == sorted(data)


def refuse_to_spill(purpose):
    raise AssertionError("spilled to a %s scratch directory" % purpose)


def test_without_spilling_nothing_touches_the_disk(monkeypatch):
    monkeypatch.setattr(sorted_spool, "make_temp_dir", refuse_to_spill)
    data = records(500)
    with SortedSpool("test", memory_records=501) as spool:
        for record in data:
            spool.add(record)
        assert spool.spilled_runs == 0
        assert list(spool) == sorted(data)


def test_close_removes_the_runs():
    spool = SortedSpool("test", memory_records=10)
    for record in records(35):
        spool.add(record)
    directory = spool._directory  # pylint: disable=protected-access
    assert sorted(name for name in os.listdir(directory) if name.startswith("run-")) == ["run-0.pickle", "run-1.pickle", "run-2.pickle"]
    spool.close()
    assert not os.path.exists(directory)


def test_a_spilled_resource_list_is_the_same_file_as_one_held_in_memory():
    def written(memory_records):
        builder = velero_format.ResourceListBuilder(memory_records=memory_records)
        for key, entry in records(3000, seed=3):
            namespace, name = entry.split("/", 1)
            builder.add("v1", key.split("/", 1)[1], namespace, name)
        builder.add("v1", "Namespace", None, "shop")
        builder.add_entries("v1", "Pod", ["z%d/p" % number for number in range(5000)])  # more than one write's batch
        return builder.to_gzip_bytes()

    spilled, in_memory = written(100), written(10 ** 6)
    assert gzip.decompress(spilled) == gzip.decompress(in_memory)
    listed = json.loads(gzip.decompress(spilled))
    assert sorted(listed) == ["v1/ConfigMap", "v1/Namespace", "v1/Pod", "v1/Secret"]
    assert sum(len(names) for names in listed.values()) == 8001
    assert all(names == sorted(names) for names in listed.values())
    # What Velero's json.Encoder writes: compact, a newline, names in UTF-8 unescaped.
    assert gzip.decompress(spilled) == (json.dumps(listed, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def test_sorted_differences_are_the_set_differences_of_spilled_spools():
    left_records = records(3000, seed=1) + records(400, seed=2)
    right_records = records(3000, seed=1)[500:] + records(700, seed=5) + records(50, seed=2)  # duplicates on both sides
    with SortedSpool("left", memory_records=250) as left, SortedSpool("right", memory_records=250) as right:
        left.extend(list(left_records))
        right.extend(list(right_records))
        assert left.spilled_runs and right.spilled_runs
        differences = list(sorted_spool.sorted_differences(left, right))
    assert differences == sorted([(0, record) for record in set(left_records) - set(right_records)]
                                 + [(1, record) for record in set(right_records) - set(left_records)], key=lambda pair: pair[1])
    assert {side for side, _record in differences} == {0, 1}


def test_sorted_differences_of_empty_and_equal_streams():
    data = sorted(records(100))
    assert list(sorted_spool.sorted_differences([], [])) == []
    assert list(sorted_spool.sorted_differences(data, sorted(data + data))) == []
    assert list(sorted_spool.sorted_differences(data, [])) == [(0, record) for record in sorted(set(data))]
    assert list(sorted_spool.sorted_differences([], data)) == [(1, record) for record in sorted(set(data))]


def test_max_runs_merges_runs_so_that_iterating_holds_few_chunks():
    data = records(2500)
    with SortedSpool("test", memory_records=100, max_runs=4) as spool:
        for record in data:
            spool.add(record)
            assert spool.spilled_runs < 4
        assert len(spool) == 2500
        # 25 runs written, merged at the 4th, the 7th, ... the 25th: one run left, the 8th merge (the 33rd file).
        assert [name for name in os.listdir(spool._directory) if name.startswith("run-")] == ["run-32.pickle"]  # pylint: disable=protected-access
        assert list(spool) == sorted(data)
