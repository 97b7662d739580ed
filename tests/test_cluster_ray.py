"""The sharded index on a real local Ray cluster (the ``cluster`` extra): ingest on Ray Data,
serving on Ray Serve behind the same API, a shard replica killed mid-run.

The cluster belongs to this test module: started with ``ray.init`` on 127.0.0.1 (no dashboard,
two CPUs) and ended with ``ray.shutdown()``, never ``ray stop``. Every socket it opens is
checked to listen on loopback only. ``pytest -m 'not cluster'`` skips these.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

# Ray reads this when it is first imported: without it, Ray binds every interface even for a
# node on 127.0.0.1 (cluster.ray_connect refuses to start a local cluster then).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
if importlib.util.find_spec("ray") is None:
    pytest.skip("needs the cluster extra: pip install -e '.[cluster]'", allow_module_level=True)

from cluster.bench import wait_ready  # noqa: E402
from cluster.ingest import build_in_process, ingest_sharded  # noqa: E402
from cluster.local import open_local  # noqa: E402
from cluster.ray_connect import connect  # noqa: E402
from cluster.ray_ingest import build_on_ray  # noqa: E402
from cluster.ray_serve import deploy  # noqa: E402
from cluster.shard_set import read_shard_set  # noqa: E402
from eval.same_answers import stable_answer  # noqa: E402
from index.config import IngestConfig  # noqa: E402
from service.ports import free_port  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.fake_citeqa import hashing_encoders  # noqa: E402
from tests.fake_encoder import HashingEncoder  # noqa: E402

from .conftest import REPO, SEEDS  # noqa: E402
from .fake_reader import WordOverlapReader  # noqa: E402

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
DIM = 64
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
QUESTIONS = ["When was the MoU signed?", "How many jobs could be created?",
             "Who is the Mayor of the Liverpool City Region?"]


def _fake_encoder(settings: Settings, *, for_questions: bool = False) -> HashingEncoder:
    return HashingEncoder(dim=DIM)


def _fake_reader(settings: Settings) -> WordOverlapReader:
    return WordOverlapReader(settings.index_dir / "shard-00")


@pytest.fixture(scope="module")
def ray_cluster():
    with pytest.MonkeyPatch.context() as env:
        # Workers import the tests' fakes (the encoder and reader at the seams) from the
        # repository; they inherit this process's environment when the cluster starts.
        env.setenv("PYTHONPATH", os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
        ray = connect("auto", num_cpus=2)
    try:
        yield ray
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def served(ray_cluster, tmp_path_factory: pytest.TempPathFactory):
    """A 3-shard index of the seeds built on the cluster, served on Ray Serve."""
    root = tmp_path_factory.mktemp("cluster")
    docs = root / "docs"
    shutil.copytree(SEEDS, docs)
    index_dir = root / "three"
    report = ingest_sharded([docs], index_dir, 3,
                            build_on_ray(ray_cluster, lambda: HashingEncoder(dim=DIM),
                                         IngestConfig(), workers=2))
    assert report.published and report.documents == 5
    port = free_port()
    settings = Settings(index_dir=index_dir, shard_timeout_s=5.0)
    deploy(ray_cluster, settings, "127.0.0.1", port, make_encoder=_fake_encoder,
           make_reader=_fake_reader)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, 120)
    return root, docs, index_dir, base


def test_ray_ingest_writes_what_one_process_writes(served, tmp_path: Path) -> None:
    _root, docs, index_dir, _base = served
    ingest_sharded([docs], tmp_path / "local", 3,
                   build_in_process(HashingEncoder(dim=DIM), IngestConfig()))
    ray_set, local_set = read_shard_set(index_dir), read_shard_set(tmp_path / "local")
    assert ray_set is not None and local_set is not None
    for a, b in zip(ray_set.shards, local_set.shards, strict=True):
        assert (a.version, a.manifest_sha256) == (b.version, b.manifest_sha256)


def test_the_cluster_answers_as_one_process_does(served) -> None:
    _root, _docs, index_dir, base = served
    local = open_local(index_dir, HashingEncoder(dim=DIM),
                       reader=WordOverlapReader(index_dir / "shard-00"))
    for question in QUESTIONS:
        response = httpx.post(f"{base}/v1/ask", json={"question": question}, timeout=60)
        assert response.status_code == 200, response.text
        over_http = stable_answer(response.json())
        # The API leaves out an unasked-for debug trace; the model dump has it as null.
        in_process = stable_answer(local.ask(question).model_dump(mode="json",
                                                                  exclude={"debug"}))
        assert json.dumps(over_http, sort_keys=True) == json.dumps(in_process, sort_keys=True)
    hits = httpx.get(f"{base}/v1/search", params={"q": QUESTIONS[0]}, timeout=60)
    assert hits.status_code == 200 and hits.json()
    doc = httpx.get(f"{base}/v1/documents/001_cee6b474e733bd54", timeout=60)
    assert doc.status_code == 200
    assert httpx.get(f"{base}/", timeout=60).status_code == 200  # the demo page lists titles


def test_the_cluster_listens_on_loopback_only(served) -> None:
    psutil = pytest.importorskip("psutil")
    ours = psutil.Process().children(recursive=True)
    assert ours, "the cluster's processes are this test process's children"
    wrong = []
    for process in ours:
        try:
            sockets = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for conn in sockets:
            if conn.status == psutil.CONN_LISTEN and conn.laddr.ip not in LOOPBACK_ADDRESSES:
                wrong.append(f"{process.name()} listens on {conn.laddr.ip}:{conn.laddr.port}")
    assert wrong == []


def test_the_api_replica_serves_the_port_itself(served) -> None:
    """Direct ingress: what listens on the port asked for is the API's replica, not Serve's
    proxy (one hop fewer per question); the proxy listens elsewhere, on loopback too."""
    psutil = pytest.importorskip("psutil")
    port = int(served[3].rsplit(":", 1)[1])
    owners = []
    for process in psutil.Process().children(recursive=True):
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for c in process.net_connections(kind="inet")):
                owners.append(" ".join(process.cmdline()))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert len(owners) == 1 and "ServeReplica" in owners[0] and "citeqa-api" in owners[0], owners


def test_serving_on_a_cluster_whose_serve_runs_already_is_refused(served) -> None:
    """Serve's controller reads the direct-ingress settings when it starts: deploying onto a
    running Serve would leave the port unserved, so it is refused, saying what to do, and the
    running application keeps answering."""
    import ray

    from cluster.ray_serve import ServeAlreadyRunning

    _root, _docs, index_dir, base = served
    with pytest.raises(ServeAlreadyRunning, match="CITEQA_DIRECT_INGRESS=false"):
        deploy(ray, Settings(index_dir=index_dir), "127.0.0.1", free_port())
    assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200


def _shard_replica(name: str) -> int | None:
    """The pid of the replica process of shard deployment ``name`` (Ray names its process)."""
    import psutil

    for process in psutil.Process().children(recursive=True):
        try:
            title = " ".join(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "ServeReplica" in title and name in title:
            return int(process.pid)
    return None


def _is_partial_problem(response: httpx.Response, shard: str) -> bool:
    body = response.json()
    return (response.status_code == 503
            and response.headers["content-type"].startswith("application/problem+json")
            and shard in body["detail"] and body["partial"] is True
            and "answer" not in body and "citations" not in body)


def test_a_killed_shard_never_yields_a_partial_answer(served) -> None:
    """While shard-01's only replica is dead, a question is either answered in full (the
    coordinator waited for the restarted replica) or refused with 503 problem+json naming the
    shard; Serve restarts the replica and answers resume."""
    pytest.importorskip("psutil")
    _root, _docs, index_dir, base = served
    question = QUESTIONS[0]
    local = open_local(index_dir, HashingEncoder(dim=DIM),
                       reader=WordOverlapReader(index_dir / "shard-00"))
    whole = stable_answer(local.ask(question).model_dump(mode="json", exclude={"debug"}))
    victim = _shard_replica("shard-01")
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 120
    restarted = False
    while time.monotonic() < deadline:
        response = httpx.post(f"{base}/v1/ask", json={"question": question}, timeout=60)
        if response.status_code == 200:
            assert stable_answer(response.json()) == whole
        else:
            assert _is_partial_problem(response, "shard-01"), response.text
        replica = _shard_replica("shard-01")
        restarted = replica is not None and replica != victim
        if restarted and response.status_code == 200:
            break
        time.sleep(0.2)
    assert restarted, "Serve never restarted the shard's replica"


def test_a_shard_that_does_not_answer_in_time_fails_the_question(served) -> None:
    from ray import serve

    from cluster.calls import ShardUnavailable
    from cluster.ray_serve import APP_NAME, RayShards

    handle = serve.get_deployment_handle("shard-02", app_name=APP_NAME)
    shards = RayShards([handle], ["shard-02"], timeout_s=1e-6)
    with pytest.raises(ShardUnavailable, match="shard-02") as failed:
        shards.call("summary", {0: ()})
    assert failed.value.status == 503 and failed.value.extra == {"partial": True}
    assert RayShards([handle], ["shard-02"], timeout_s=60).call("summary", {0: ()})[0].doc_ids


def test_cli_ingest_on_the_cluster(served, tmp_path: Path, monkeypatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    from service import cli

    _root, docs, _index_dir, _base = served
    monkeypatch.setenv("CITEQA_INDEX_DIR", str(tmp_path / "ix"))
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:")
    argv = ["ingest", "--quiet", "--cluster", address, str(docs)]
    assert cli.main(argv, make_encoder=hashing_encoders(DIM)) == 0
    assert "published s000001-" in capsys.readouterr().out
    assert cli.main(argv, make_encoder=hashing_encoders(DIM)) == 0
    assert "kept s000001-" in capsys.readouterr().out  # nothing changed: nothing rebuilt
