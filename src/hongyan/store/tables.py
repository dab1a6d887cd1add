"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` must produce exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are Unix milliseconds (BIGINT): portable, sortable and cheap to write on the hot path.

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("api_id", String(16), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    # The dynamic password needs the key in clear, so it is encrypted (Fernet), not hashed.
    Column("apikey_enc", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("allowed_ips", Text, nullable=False, server_default=""),
    Column("registered_ips", Text, nullable=False, server_default=""),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("default_signature", String(64), nullable=True),
    Column("require_template", Boolean, nullable=False, server_default="0"),
    Column("receipt_url", Text, nullable=True),
    Column("reply_url", Text, nullable=True),
    Column("template_url", Text, nullable=True),
    # Per-account frequency limits; NULL means the platform default from settings (0002).
    Column("limit_daily", Integer, nullable=True),
    Column("limit_daily_codes", Integer, nullable=True),
    Column("limit_daily_ceiling", Integer, nullable=True),
    Column("unit_price_micros", BigInteger, nullable=True),  # price of one segment, millionths of a yuan
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # The channel group its messages route in (0011); NULL means "default".
    Column("channel_group", String(64), nullable=True),
)

signatures = Table(
    "signatures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("text", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("category", String(16), nullable=False, server_default="notice"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("account_id", "text", name="uq_signatures_account_text"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # NULL account: the built-in default verification template, approved for every account.
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("text", Text, nullable=False),
    Column("var_max_lengths", Text, nullable=False, server_default="[]"),
    Column("category", String(16), nullable=False, server_default="notice"),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_templates_account_id", "account_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("smsid", String(20), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("mobile", String(32), nullable=False),
    Column("carrier", String(16), nullable=False, server_default=""),
    Column("content", Text, nullable=False),
    Column("signature", String(64), nullable=True),
    Column("template_id", Integer, nullable=True),
    Column("segments", Integer, nullable=False),
    Column("unit_price_micros", BigInteger, nullable=True),
    Column("state", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # delivery (0003)
    Column("next_attempt_at", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("channel", String(64), nullable=True),
    Column("parts", Integer, nullable=False, server_default="0"),
    Column("carrier_status", String(32), nullable=True),
    Column("carrier_error", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("submitted_at", BigInteger, nullable=True),
    Column("done_at", BigInteger, nullable=True),
    # 0008: set when this attempt's submit_sm may have left; a dead worker's message with it set was in flight
    Column("submit_started_at", BigInteger, nullable=True),
    Index("ix_messages_account_id_created_at", "account_id", "created_at"),
    Index("ix_messages_mobile", "mobile"),
    Index("ix_messages_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_messages_created_at", "created_at"),  # 0006: system-wide charts and searches
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),  # segments: + topup/grant/refund, - deduct
    Column("smsid", String(20), nullable=True),
    Column("note", Text, nullable=True),
    Column("package_id", Integer, nullable=True),
    Column("paid_cents", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_ledger_account_id", "account_id"),
)

smsid_nodes = Table(
    "smsid_nodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(128), nullable=False),
    Column("started_at", BigInteger, nullable=False),
)

# --- message policy (0002) -------------------------------------------------------------------------

blacklist = Table(
    "blacklist",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # NULL account: the operator's global list.
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("mobile", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # global | account | auto408 | unsubscribe
    Column("reason", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_blacklist_mobile", "mobile"),
    UniqueConstraint("account_id", "mobile", "kind", name="uq_blacklist_account_mobile_kind"),
)

sensitive_words = Table(
    "sensitive_words",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("word", String(200), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

packages = Table(
    "packages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("segments", BigInteger, nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
)

# Embedded-mode frequency counters shared by several processes on one SQLite file (Redis in production).
counters = Table(
    "counters",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # Unix ms
    Index("ix_counters_expires_at", "expires_at"),
)

# Bumped on every change to words, blacklists or limits, so every process reloads its caches.
policy_version = Table(
    "policy_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# --- delivery (0003) -------------------------------------------------------------------------------

# Append-only: one row per state transition of a message.
message_events = Table(
    "message_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("smsid", String(20), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Column("at", BigInteger, nullable=False),
    Index("ix_message_events_smsid", "smsid"),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False, server_default="smpp"),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("system_id", String(16), nullable=False),
    Column("password_enc", Text, nullable=False),
    Column("system_type", String(13), nullable=False, server_default=""),
    Column("source_addr", String(21), nullable=False, server_default=""),
    Column("tps", Integer, nullable=False, server_default="200"),
    Column("window", Integer, nullable=False, server_default="50"),
    Column("carriers", String(128), nullable=False, server_default="mobile,unicom,telecom,broadnet,virtual"),
    Column("priority", String(16), nullable=False, server_default="primary"),  # primary | backup
    Column("group_name", String(64), nullable=False, server_default="default"),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# carrier message_id -> smsid, one row per submitted part; the part's own receipt status.
carrier_ids = Table(
    "carrier_ids",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("carrier_msg_id", String(64), primary_key=True),
    Column("smsid", String(20), nullable=False),
    Column("part", Integer, nullable=False),
    Column("stat", String(32), nullable=True),
    Column("err", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_carrier_ids_smsid", "smsid"),
)

# Receipts whose carrier id is not (yet) known: kept, and reconciled when the submit is recorded.
pending_receipts = Table(
    "pending_receipts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("carrier_msg_id", String(64), nullable=False),
    Column("stat", String(32), nullable=False),
    Column("err", String(32), nullable=True),
    Column("done_at", BigInteger, nullable=True),
    Column("received_at", BigInteger, nullable=False),
    # 0008: the same id spelled in the other base (hex ↔ decimal), see hongyan.domain.carrier_ids
    Column("carrier_msg_id_alt1", String(64), nullable=True),
    Column("carrier_msg_id_alt2", String(64), nullable=True),
    # 0012: the handset the receipt reports on (deliver_sm source_addr, as hongyan.domain.receipt_match keys it)
    Column("mobile", String(32), nullable=True),
    Index("ix_pending_receipts_channel", "channel", "carrier_msg_id"),
    Index("ix_pending_receipts_mobile", "channel", "mobile"),
)

# --- pushes (0004) ---------------------------------------------------------------------------------

# Transactional outbox: a push is written in the same transaction as the state change that causes it.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # receipt | reply | template
    Column("ref", String(64), nullable=False),  # smsid, reply id or template id: the idempotency key
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON object of the form fields, in order
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    # Set on a signed JSON webhook (0007): its Standard Webhooks id, stable across retries; payload is the body.
    Column("webhook_id", String(40), nullable=True),
    Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_outbox_account_id", "account_id"),
)

# Replies (MO) as received, matched to the message replied to when possible.
replies = Table(
    "replies",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_id", Integer, nullable=True),
    Column("mobile", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("smsid", String(20), nullable=True),
    Column("channel", String(64), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_replies_mobile", "mobile"),
    Index("ix_replies_account_id_received_at", "account_id", "received_at"),  # 0006
)

# --- console (0005) --------------------------------------------------------------------------------

# People who log into the web console; a customer user owns one account, an operator may have none.
console_users = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("phone", String(32), nullable=False, server_default=""),
    Column("password_hash", Text, nullable=False),  # argon2id
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("is_operator", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Server-side sessions: the cookie holds a random token, the table only its SHA-256.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("flash_enc", Text, nullable=True),  # 0009: a one-time message (encrypted), shown after a redirect
    Index("ix_console_sessions_user_id", "user_id"),
)

# Failed console logins per username+IP, for the login rate limit (rows older than the window are pruned).
console_login_failures = Table(
    "console_login_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_console_login_failures_key", "key", "at"),
)

# --- enterprise certification (0006) ---------------------------------------------------------------

# One row per submission (the newest is the account's status): pending → approved | rejected (with reason).
certifications = Table(
    "certifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("company_name", String(100), nullable=False),
    Column("licence_no", String(18), nullable=False),  # unified social credit code (统一社会信用代码)
    Column("contact_name", String(50), nullable=False),
    Column("contact_phone", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # pending | approved | rejected
    Column("reason", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_certifications_account_id", "account_id"),
    Index("ix_certifications_state", "state"),
)

# --- webhooks (0007) --------------------------------------------------------------------------------

# Signed JSON webhooks (Standard Webhooks) of an account; secrets encrypted like API keys. During a rotation
# the previous secret also signs until ``previous_until``.
webhooks = Table(
    "webhooks",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret_enc", Text, nullable=False),
    Column("previous_secret_enc", Text, nullable=True),
    Column("previous_until", BigInteger, nullable=True),
    Column("events", Text, nullable=False, server_default=""),  # comma-separated event types; empty = all
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# --- delivery robustness (0008) ---------------------------------------------------------------------

# deliver_sm / data_sm that could not be understood (a receipt without id or stat): acknowledged to the SMSC
# and kept here for the operator, never dropped silently.
unparsed_deliveries = Table(
    "unparsed_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("command", String(16), nullable=False),  # deliver_sm | data_sm
    Column("source_addr", String(32), nullable=False, server_default=""),
    Column("destination_addr", String(32), nullable=False, server_default=""),
    Column("esm_class", Integer, nullable=False, server_default="0"),
    Column("data_coding", Integer, nullable=False, server_default="0"),
    Column("payload_hex", Text, nullable=False, server_default=""),
    Column("tlvs", Text, nullable=False, server_default="{}"),  # JSON: tag (hex) → value
    Column("reason", Text, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_unparsed_deliveries_received_at", "received_at"),
)

# --- channel status heartbeats (0010) ----------------------------------------------------------------

# One row per (channel, delivery process), upserted every HONGYAN_CHANNEL_HEARTBEAT_S by the process running the
# channel; readers treat a row older than three heartbeats as unknown (the process is gone or stuck).
channel_status = Table(
    "channel_status",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("node", String(128), primary_key=True),  # the delivery process (host:pid:id, the dispatcher's owner)
    Column("bound", Boolean, nullable=False),
    Column("inflight", Integer, nullable=False),
    Column("window", Integer, nullable=False),
    Column("tps", Float, nullable=False),  # submit_sm per second lately
    Column("throttled", Boolean, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
