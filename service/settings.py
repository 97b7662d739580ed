"""The one typed settings object: environment variables prefixed ``CITEQA_`` and an optional
``.env``. Only the service layer reads the environment; everything below takes plain arguments.

Only what a deployer chooses is a setting (paths, the model, limits, threads, secrets). Values the
models were fitted with (chunking, BM25, fusion, candidate counts) are constants beside their use:
``IngestConfig``, ``EngineParams`` and ``FusionParams`` defaults, varied only by evaluation code.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.config import IngestConfig
from index.embed import DEFAULT_ENCODER_BACKEND, DEFAULT_MODEL, EncoderBackend
from retriever.engine import EngineParams


class Settings(BaseSettings):
    # Errors never echo a value: a mistyped secret (admin token, Slack secret) must not reach a log.
    model_config = SettingsConfigDict(env_prefix="CITEQA_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    index_dir: Path = Path("var/index")
    model: str = Field(DEFAULT_MODEL, description="sentence-transformers directory, or the bundled "
                       "all-MiniLM-L6-v2")
    encoder_backend: EncoderBackend = Field(
        DEFAULT_ENCODER_BACKEND, description="how the model runs: 'onnx-fp32' (the fp32 "
        "weights on ONNX Runtime: the same vectors as torch; serving never imports torch and "
        "answers on several threads), 'torch' (fp32 sentence-transformers) or 'onnx-int8' (an "
        "int8 quantization, faster still, close to but not equal to fp32's vectors). The ONNX "
        "graphs are exported "
        "locally from the same weights once (seconds to minutes, with progress on stderr) and "
        "cached in ~/.cache/citeqa/encoders ($XDG_CACHE_HOME/citeqa/encoders when that is "
        "set). onnx-fp32 and torch share an "
        "embedding space, so an index built by one is queried by the other; an onnx-int8 index "
        "needs onnx-int8",
    )
    encoder_threads: int | None = Field(
        None, ge=1, le=256, description="texts the ONNX backends embed at once, one thread each "
        "(null: one per core when ingesting; torch_threads in processes that answer questions)",
    )

    # ingest
    faiss_factory: str = "Flat"
    max_file_bytes: int = Field(50_000_000, ge=1)
    keep_versions: int = Field(3, ge=1)
    ingest_loaders: int = Field(
        1, ge=0, le=64, description="processes that read, parse and segment files ahead of the "
        "encoder on large collections (0: the ingest process does it between embeddings; "
        "records are the same either way)",
    )
    version_grace_s: float = Field(
        0.0, ge=0, description="also keep every index version superseded less than this many "
        "seconds ago, so citations given from it (chat history, Slack links) still resolve "
        "with ?version= (0: keep only by count)",
    )

    # query
    top_k: int = Field(5, ge=1, le=50)
    answer_model_dir: Path | None = Field(
        None, description="the answer model directory (default: the bundled one); its "
        "answer_model.json names the file, its sha256 and what it was fitted with",
    )
    abstain_threshold: float | None = Field(
        None, ge=0, le=1, description="answer only when the calibrated confidence is at least "
        "this; below it the answer is 'not in the documents' with related passages (null: the "
        "answer model's default, fitted on dev questions)",
    )
    answer_candidates: int | None = Field(
        None, ge=1, le=64, description="pre-ranked sentences the answer model reads per question "
        "(null: the model's own N, chosen on dev; more reads slower)",
    )
    answer_threads: int = Field(
        2, ge=1, le=64, description="ONNX Runtime threads for one answer-model call (the read "
        "is most of a question's time: two threads halve it when the cores are free; they do "
        "not spin-wait, so concurrent questions share the cores without busy loops)",
    )

    # service
    widget_origins: list[str] = Field(default_factory=list)
    slack_signing_secret: SecretStr | None = None
    feedback_db: Path = Path("var/feedback.sqlite3")

    # service limits (HTTP API, widget, Slack)
    public_url: str | None = Field(None, description="external base URL of the service, used "
                                   "for document links in Slack messages")
    max_body_bytes: int = Field(16_384, ge=1024, description="request body limit for /v1/*")
    slack_max_body_bytes: int = Field(262_144, ge=1024, description="body limit for /slack/*")
    rate_limit_per_minute: float = Field(120.0, gt=0, description="per client IP, /v1/*")
    rate_limit_burst: int = Field(30, ge=1)
    slack_rate_limit_per_minute: float = Field(30.0, gt=0, description="per Slack team:user")
    slack_rate_limit_burst: int = Field(10, ge=1)
    max_pending_questions: int = Field(64, ge=1, description="HTTP engine calls queued or "
                                       "running before 503 (Slack has its own lane)")
    engine_threads: int | None = Field(
        None, ge=1, le=64, description="questions answered at once, each on its own thread "
        "(null: one per core). The model and FAISS release the GIL, so one question's embedding "
        "overlaps another's scoring. The torch backend always uses one (its Hugging Face "
        "tokenizer must not be shared between threads)",
    )
    request_timeout_s: float = Field(10.0, gt=0, le=120)
    slack_inline_ms: int = Field(2000, ge=0, le=2800, description="wait this long (from the "
                                 "request's arrival) for an inline Slack answer before "
                                 "acknowledging and posting to response_url")
    slack_response_url_prefixes: list[str] = Field(
        default_factory=lambda: ["https://hooks.slack.com/"],
        description="response_url values the service will post to (anything else is refused)",
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=list, description="proxies trusted for X-Forwarded-For (none by default)"
    )
    admin_token: SecretStr | None = Field(
        None, min_length=16, description="enables POST /admin/reload for loopback clients that "
        "send 'Authorization: Bearer <token>' (unset: the endpoint does not exist)",
    )
    reload_poll_s: float | None = Field(
        None, gt=0, le=3600, description="check CURRENT this often and serve a newly published "
        "version without a restart (unset: reload only on SIGHUP or POST /admin/reload)",
    )
    limit_concurrency: int | None = Field(
        1000, ge=1, description="last-resort bound on requests in flight (beyond it, 503 with "
        "Retry-After; /healthz, /readyz and /metrics are exempt); idle connections do not "
        "count. The engine queue (max_pending_questions) sheds first",
    )
    max_connections_per_client: int = Field(
        32, ge=1, description="connections one client address keeps: when it opens more, "
        "its connections that have waited over a second on the client (idle, or a request "
        "still arriving) are closed down to this bound; a burst of new ones is let in. Proxies "
        "in forwarded_allow_ips are exempt",
    )
    torch_threads: int | None = Field(
        1, ge=1, le=256, description="the model's intra-op threads (torch, or ONNX Runtime unless "
        "encoder_threads is set) in processes that answer questions: serve, eval, bench (null: "
        "one per core); one question embedding gains little from more, and they spin against "
        "each other when the CPU is shared",
    )
    faiss_threads: int | None = Field(
        1, ge=1, le=256, description="FAISS OpenMP threads for searches (null: one per core); "
        "a single query's search is too small to share, and idle OpenMP threads spin against "
        "the model's thread when the CPU is shared",
    )

    # cluster (the optional `cluster` extra: Ray; only with --cluster or cluster_address)
    cluster_address: str | None = Field(
        None, description="the Ray cluster `citeqa ingest` and `citeqa serve` run on: HOST:PORT "
        "of a running head's GCS, or 'auto' for a local one owned by the command and bound to "
        "127.0.0.1 (unset: one process, Ray is never imported); --cluster overrides it",
    )
    shards: int = Field(3, ge=1, le=1024, description="shards of a sharded index (documents are "
                        "placed by a hash of their id; fixed once the index exists)")
    ingest_workers: int = Field(2, ge=1, le=1024, description="embedding actors of a sharded "
                                "ingest, each loading the model once")
    shard_replicas: int = Field(1, ge=1, le=64, description="Ray Serve replicas of each shard")
    ingress_replicas: int = Field(1, ge=1, le=64, description="Ray Serve replicas of the API "
                                  "(each embeds questions and runs the answer model)")
    replica_cpus: float = Field(0.25, gt=0, le=64, description="CPUs Ray reserves for each "
                                "Serve replica (shards and API alike)")
    shard_timeout_s: float = Field(30.0, gt=0, le=600, description="how long the API waits for "
                                   "a shard before the question fails with 503")
    shard_speculation: bool = Field(False, description="shards send the candidates they could "
                                    "contribute with their rankings: one round to the shards "
                                    "fewer per question, for features computed in vain (a loss "
                                    "when replicas share few cores; see README)")

    direct_ingress: bool = Field(True, description="the API replica serves HTTP on the port "
                                 "asked for itself (Ray Serve's direct ingress: replica i on "
                                 "port + i), without the hop through Serve's proxy; false: "
                                 "Serve's proxy serves the port")

    def ingest_config(self) -> IngestConfig:
        return IngestConfig(
            faiss_factory=self.faiss_factory,
            max_file_bytes=self.max_file_bytes,
            keep_versions=self.keep_versions,
            loaders=self.ingest_loaders,
            version_grace_s=self.version_grace_s,
        )

    def engine_params(self) -> EngineParams:
        return EngineParams(
            top_k=self.top_k,
            answer_candidates=self.answer_candidates,
            abstain_below=self.abstain_threshold,
        )
