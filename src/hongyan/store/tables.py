"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` must produce exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
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
    Index("ix_messages_account_id_created_at", "account_id", "created_at"),
    Index("ix_messages_mobile", "mobile"),
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
