"""Configuration of the Resource Service, read once from the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the service; environment variables use the `RS_` prefix."""

    model_config = SettingsConfigDict(env_prefix="RS_", extra="ignore")

    environment: str = "local"
    log_level: str = "INFO"

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?directConnection=true")
    mongodb_database: str = "resource_service"
    mongodb_server_selection_timeout_ms: int = 3_000
    mongodb_max_pool_size: int = 10
    # ARN of a Secrets Manager secret holding {"uri": "..."}; overrides mongodb_uri when set.
    mongodb_secret_arn: str | None = None

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F")
    # ARN of a Secrets Manager secret holding {"username": ..., "password": ...} (Amazon MQ credentials).
    amqp_secret_arn: str | None = None
    broker_channel_pool_size: int = 5
    broker_connect_attempts: int = 5
    broker_backoff_seconds: float = 0.5
    broker_backoff_max_seconds: float = 8.0
    broker_confirm_timeout_seconds: float = 30.0
    # Messages of an outbox flush sent ahead of their confirms (shared/messaging/confirm_window.py).
    broker_confirm_window: int = Field(default=32, ge=1)
    collected_data_max_bytes: int = 256 * 1024
    # Queue bounds (shared/messaging/queues.py): a live queue keeps the arguments it was declared with, so
    # changing one needs the migration the README describes.
    resource_data_max_messages: int = Field(default=100_000, ge=1)
    collected_data_max_messages: int = Field(default=10_000, ge=1)
    collected_data_ttl_seconds: int = Field(default=7 * 86_400, ge=1)

    api_cors_origins: list[str] = Field(default_factory=list)
    api_page_size_max: int = 500
    # How long a container trusts an API key it authenticated before asking MongoDB again: a revoked
    # key stops working within this many seconds (0 asks every time).
    api_key_cache_seconds: float = Field(default=10.0, ge=0)
    # The command line's service client (`resource-service resources|wrappers`); a config file fills
    # what these leave unset.
    api_url: str | None = None
    api_key: SecretStr | None = None
    api_timeout_seconds: float = Field(default=30.0, gt=0)
    upload_bucket: str | None = None
    upload_max_bytes: int = 100 * 1024 * 1024
    upload_url_expiry_seconds: int = 900

    generation_lease_seconds: int = 900
    # ARN of a Secrets Manager secret holding {"api_key": "..."} for Gemini; overrides gemini_api_key.
    gemini_secret_arn: str | None = None

    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("RS_GEMINI_API_KEY", "GEMINI_API_KEY")
    )
    gemini_model: str = "gemini-2.5-flash"
    gemini_timeout_seconds: float = 60.0
    gemini_retry_attempts: int = 3
    generation_max_attempts: int = 3

    fetch_timeout_seconds: float = 30.0
    fetch_max_bytes: int = 200 * 1024 * 1024
    fetch_max_redirects: int = 5
    fetch_user_agent: str = "resource-service/0.1"
    # Source credentials named in `source.options.headers`/`query`: `RS_SECRET_<NAME>`, else the Secrets
    # Manager secret `<prefix><name>` (the functions and the job may read this prefix only).
    source_secret_prefix: str | None = None
    source_secret_max_age_seconds: int = Field(default=300, ge=0)
    # The service's own secrets (the ARNs above): read again once older than this, so rotation is seen.
    service_secret_max_age_seconds: int = Field(default=300, ge=0)
    # Test-only escape hatch: networks treated as public by the fetcher (e.g. ["127.0.0.1/32"]).
    fetch_allowed_networks: list[str] = Field(default_factory=list)
    # Test-only: extra parameters for the S3 client (e.g. a moto endpoint).
    s3_endpoint_url: str | None = None

    xlsx_max_uncompressed_bytes: int = 500 * 1024 * 1024
    xlsx_max_compression_ratio: float = 200.0
    xlsx_max_members: int = 10_000

    sample_rows: int = 40
    sample_json_chars: int = 6_000

    sandbox_wall_seconds: float = 120.0
    sandbox_cpu_seconds: int = 120
    sandbox_memory_mb: int = 3_072
    sandbox_max_file_mb: int = 64
    sandbox_max_open_files: int = 256
    sandbox_max_output_mb: int = 1_024
    # Budgets of one run beyond the rlimits: points the parent accepts (it holds them as columns, about 24
    # bytes each), and what the child's work directory may hold in all (bytes and files or directories).
    sandbox_max_points: int = Field(default=5_000_000, ge=1)
    sandbox_max_disk_mb: int = Field(default=256, ge=1)
    sandbox_max_files: int = Field(default=1_000, ge=1)
    # Keep one sandbox child started and preloaded ahead of the next run (shared/sandbox/spare.py).
    sandbox_warm_start: bool = True

    # The run_wrappers job: a claimed wrapper's lease outlives a killed task by at most this long.
    job_lease_seconds: int = Field(default=900, ge=1)
    # Re-fetch window before the high water mark, for fetch specs that set no lookback of their own.
    job_lookback_seconds: int = Field(default=86_400, ge=0)
    job_max_consecutive_failures: int = Field(default=5, ge=1)
    job_backoff_base_seconds: int = Field(default=60, ge=1)
    job_backoff_max_seconds: int = Field(default=6 * 3600, ge=1)
    job_tick_max_wrappers: int = Field(default=50, ge=1)
    # How often a continuous wrapper without a schedule runs.
    job_default_rate_seconds: int = Field(default=3600, ge=60)
    job_publish_batch_size: int = Field(default=1000, ge=1)
    dev_tick_seconds: float = Field(default=10.0, gt=0)

    # A scheduled wrapper is `stale` when its newest point is older than this many expected cadences,
    # `failing` after this many failed runs in a row (the API's `health`, the job's metrics and alarms).
    health_stale_cadences: int = Field(default=3, ge=1)
    health_failing_runs: int = Field(default=3, ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment on first use."""
    return Settings()
