"""The Dask engine on a real distributed.LocalCluster (2 worker processes) equals the local engine."""
import gzip

import pytest

from nlpkit.wordcount import run

from test_wordcount import make_text

distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_equals_local_engine(tmp_path):
    for i in range(4):
        (tmp_path / f"d{i}.txt").write_text(make_text(20 + i, lines=80), encoding="utf-8")
    with gzip.open(tmp_path / "z.txt.gz", "wt", encoding="utf-8") as f:  # streamed by the client as bytes
        f.write(make_text(30, lines=80))
    ud = tmp_path / "user.dict"
    ud.write_text("杭研大厦 5\n", encoding="utf-8")
    options = dict(user_dict=str(ud), stopwords=["的", "了"], chunk_bytes=700)
    local = run(tmp_path / "*.txt*", workers=1, **options)
    out = tmp_path / "out" / "dask.tsv"
    res = run(tmp_path / "*.txt*", engine="dask", workers=2, output=out, **options)
    assert res.counts == local.counts
    assert res.counts["杭研大厦"] > 0 and "的" not in res.counts
    assert {k: res.stats[k] for k in ("files", "lines", "bytes", "tokens")} == \
        {k: local.stats[k] for k in ("files", "lines", "bytes", "tokens")}
    assert res.stats["engine"] == "dask" and out.exists()


def test_dask_with_scheduler_address(tmp_path):
    (tmp_path / "a.txt").write_text(make_text(5, lines=50), encoding="utf-8")
    local = run(tmp_path / "a.txt", workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        res = run(tmp_path / "a.txt", engine="dask", scheduler=cluster.scheduler_address, chunk_bytes=300)
    assert res.counts == local.counts
