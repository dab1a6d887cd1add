"""Settings, read once from the environment (prefix ``HONGYAN_``) or an env file, then passed down."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the platform; nothing reads the environment elsewhere."""

    model_config = SettingsConfigDict(env_prefix="HONGYAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/hongyan.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db for counters (production)")
    redis_prefix: str = Field(
        default="hongyan:", description="Prefix of every Redis key (several platforms, one Redis)"
    )
    counters: Literal["memory", "sql"] = Field(
        default="memory",
        description="Frequency counters without Redis: memory (one process) or sql (processes sharing the database)",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Key that encrypts API keys at rest; generated into var/secret.key when empty",
    )
    var_dir: Path = Field(default=Path("./var"), description="Directory for the SQLite file and keys")
    host: str = "127.0.0.1"
    port: int = 8080
    dynamic_password_window_s: int = Field(default=600, description="Allowed |server time - time| (40501)")
    default_signature: str = Field(default="鸿雁短信", description="Signature of test mode and fallback")
    test_mode_free_segments: int = Field(default=50, description="Free segments a new account starts with")
    template_var_max_len: int = Field(default=8, description="Default max length of a template variable")
    max_content_chars: int = Field(default=300, description="Max characters incl. signature (4073)")
    account_cache_ttl_s: float = Field(default=2.0, description="How long an account lookup is cached")
    commit_batch_max: int = Field(default=512, description="Most messages committed in one transaction")
    limit_per_second: int = Field(default=1, description="Messages per second per number per account (4080)")
    limit_daily: int = Field(default=5, description="Messages per number per Beijing day per account (4082)")
    limit_daily_codes: int = Field(default=5, description="Verification codes per number per day (4085)")
    limit_daily_ceiling: int = Field(default=20, description="Attempts per number per day before auto-blacklist (408)")
    policy_poll_s: float = Field(default=1.0, description="How often a process checks for policy changes")
    marketing_start_hour: int = Field(default=8, description="Marketing sends allowed from (Beijing time)")
    marketing_end_hour: int = Field(default=21, description="Marketing sends allowed until (Beijing time)")
    embedded_workers: bool = Field(
        default=True, description="serve also runs the dispatcher and the pusher (one process, embedded mode)"
    )
    worker_process: bool = Field(
        default=True,
        description="With embedded_workers, serve runs them in a child process (`hongyan worker all`) that it "
        "starts, restarts and stops: the API and delivery on two cores; false: in the API process",
    )
    push_retry_base_s: float = Field(default=60.0, description="First push retry after this; doubles each time")
    push_retry_window_s: float = Field(default=86_400.0, description="Pushes are retried this long, then dead")
    push_per_host: int = Field(default=32, description="Concurrent pushes (connections) to one customer host")
    push_allow_private: bool = Field(default=True, description="Allow push URLs on private/loopback addresses")
    push_lease_s: float = Field(
        default=60.0, description="A push worker's lease on a push (renewed while in flight); a killed worker's return"
    )
    db_pool_size: int = Field(default=10, description="Connections kept open per engine and process")
    db_max_overflow: int = Field(default=10, description="Extra connections a process may open under load")
    db_pool_timeout_s: float = Field(default=30.0, description="Wait for a free pooled connection, then fail")
    db_statement_timeout_s: float = Field(
        default=30.0, description="PostgreSQL statement_timeout of every connection (0 = none)"
    )
    sqlite_busy_timeout_ms: int = Field(default=10_000, description="SQLite busy_timeout: wait for a locked database")
    dispatch_lease_s: float = Field(
        default=60.0, description="A dispatcher's lease on a message; a dead dispatcher's messages return after it"
    )
    interrupted_receipt_wait_s: float = Field(
        default=60.0,
        ge=0,
        description="A message a dead dispatcher had in flight is sent again only if no receipt for it has come "
        "this long after its submit started (the receipt proves the carrier has it; "
        "docs/decisions/0002-submit-crash-window.md). 0 = send again at once",
    )
    receipt_timeout_s: float = Field(
        default=72 * 3600.0, description="A submitted message with no receipt after this is expired and refunded"
    )
    receipt_sweep_s: float = Field(default=60.0, description="How often the dispatcher looks for overdue receipts")
    throttle_failover_s: float = Field(
        default=3.0,
        description="A channel held back (throttled by the SMSC, or its TPS queue backed up) longer than this takes "
        "no new messages while backed up, and messages waiting on it move to another channel (0 = never)",
    )
    balance_low_segments: int = Field(
        default=100,
        description="Warn (log + hongyan_balance_low_total) when an accept takes an account's balance below this "
        "many segments; once per crossing (0 = off)",
    )
    channel_heartbeat_s: float = Field(
        default=2.0,
        description="How often a delivery process writes its channels' state to channel_status; a row older than "
        "3 heartbeats counts as unknown",
    )
    readyz_require_channel: bool = Field(
        default=True,
        description="/readyz fails unless a configured channel is bound (in this process, or per fresh "
        "channel_status heartbeats when delivery runs elsewhere)",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Prometheus multiprocess directory shared by this machine's processes "
        "(serve --workers N uses var_dir/metrics when unset)",
    )
    console_session_ttl_s: int = Field(default=8 * 3600, description="Console sessions expire after this")
    console_secure_cookies: bool = Field(
        default=False, description="Mark console cookies Secure even on plain HTTP (production behind TLS)"
    )
    console_login_max_failures: int = Field(default=5, description="Failed console logins per user+IP per window")
    console_login_window_s: int = Field(default=900, description="Window of the console login rate limit")
    console_login_ip_max_failures: int = Field(
        default=20, description="Failed console logins per IP (any username) per window"
    )
    log_level: str = "info"
    log_json: bool = True

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
