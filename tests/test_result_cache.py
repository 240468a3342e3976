"""The strategy lab's on-disk cache: hit, miss, invalidation, corrupt files, concurrent writers."""
import course_utils  # noqa: F401
import json
import multiprocessing as mp
import threading

import pytest

from course_utils.lab import CacheWarning, ResultCache, cache_key

FIELDS = {"strategy": "fine_tune", "seed": 0, "labels_per_class": 10, "epochs": 5, "lr": 0.01}
VALUE = [{"epoch": 1, "accuracy": 0.5}, {"epoch": 2, "accuracy": 0.75}]


def test_miss_then_hit(tmp_path):
    cache = ResultCache(tmp_path)
    assert cache.get(FIELDS) is None
    cache.put(FIELDS, VALUE)
    assert cache.get(FIELDS) == VALUE
    assert len(cache) == 1 and bool(ResultCache(tmp_path / "empty"))   # an empty cache is still truthy


def test_hit_survives_a_new_cache_object(tmp_path):
    """A kernel restart: a fresh ResultCache on the same folder reads what the old one wrote."""
    ResultCache(tmp_path).put(FIELDS, VALUE)
    assert ResultCache(tmp_path).get(FIELDS) == VALUE


@pytest.mark.parametrize("change", [{"seed": 1}, {"epochs": 6}, {"lr": 0.02}, {"strategy": "gradual"},
                                    {"backbone": "other-sha"}, {"fastai": "9.9"}])
def test_changed_field_is_a_miss(tmp_path, change):
    cache = ResultCache(tmp_path)
    cache.put(FIELDS, VALUE)
    assert cache.get({**FIELDS, **change}) is None


def test_key_ignores_dict_order():
    assert cache_key(dict(reversed(list(FIELDS.items())))) == cache_key(FIELDS)
    with pytest.raises(ValueError, match="non-empty dict"):
        cache_key({})


@pytest.mark.parametrize("damage", ["", "{not json", '{"format": 1}', "[1, 2]", '{"format": 99, "value": 1}'])
def test_corrupt_file_is_reported_and_recomputed(tmp_path, damage):
    messages = []
    cache = ResultCache(tmp_path, report=messages.append)
    f = cache.put(FIELDS, VALUE)
    f.write_text(damage)
    assert cache.get(FIELDS) is None
    assert len(messages) == 1 and "corrupt" in messages[0] and cache.problems == messages
    cache.put(FIELDS, VALUE)                       # the caller recomputes and overwrites
    assert cache.get(FIELDS) == VALUE


def test_corrupt_file_warns_by_default(tmp_path):
    cache = ResultCache(tmp_path)
    cache.put(FIELDS, VALUE).write_text("{")
    with pytest.warns(CacheWarning, match="recomputing"):
        assert cache.get(FIELDS) is None


def test_write_leaves_no_temporary_files(tmp_path):
    cache = ResultCache(tmp_path)
    f = cache.put(FIELDS, VALUE)
    assert [p.name for p in f.parent.iterdir()] == [f.name]
    assert json.loads(f.read_text())["fields"] == FIELDS


def test_concurrent_writers_and_readers_in_threads(tmp_path):
    cache = ResultCache(tmp_path, report=lambda m: pytest.fail(m))
    values = [[{"epoch": 1, "accuracy": i / 100}] * 50 for i in range(20)]
    seen = []

    def write(v):
        cache.put(FIELDS, v)

    def read():
        for _ in range(30):
            got = cache.get(FIELDS)
            if got is not None:
                seen.append(got)

    threads = [threading.Thread(target=write, args=(v,)) for v in values] + [threading.Thread(target=read)
                                                                             for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get(FIELDS) in values               # one complete value won; nothing half-written
    assert all(v in values for v in seen)
    assert len(list(tmp_path.glob("*/*"))) == 1


def _write_many(path, i):
    cache = ResultCache(path)
    for j in range(20):
        cache.put(FIELDS, [{"writer": i, "j": j}] * 100)


def test_concurrent_writers_in_processes(tmp_path):
    """Two kernels sharing one cache folder: every read sees a whole file."""
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(tmp_path, i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    got = ResultCache(tmp_path, report=lambda m: pytest.fail(m)).get(FIELDS)
    assert got is not None and len(got) == 100 and len({(r["writer"], r["j"]) for r in got}) == 1


def test_cache_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        ResultCache(f)
