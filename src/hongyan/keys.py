"""API credentials: generation, and encryption of API keys at rest.

The dynamic password is md5(account + apikey + …), so the server needs the key in clear: a hash cannot be
used. Keys are therefore encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a secret from settings
(``HONGYAN_SECRET_KEY``) or, when that is empty, a key generated once into ``var/secret.key`` (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from hongyan.settings import Settings


def new_api_id() -> str:
    return "C" + "".join(secrets.choice("0123456789") for _ in range(8))


def new_api_key() -> str:
    return secrets.token_hex(16)


class KeyBox:
    """Encrypts and decrypts API keys; the secret never appears in repr or logs."""

    def __init__(self, secret: str) -> None:
        digest = hashlib.sha256(secret.encode("utf-8")).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._mac_key = hashlib.sha256(b"hongyan-mac:" + secret.encode("utf-8")).digest()

    def __repr__(self) -> str:
        return "KeyBox(***)"

    def mac(self, label: str, data: str) -> str:
        """HMAC-SHA256 (hex) of ``data`` under a key derived from the same secret, e.g. console CSRF tokens."""
        return hmac.new(self._mac_key, f"{label}:{data}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, apikey: str) -> str:
        return self._fernet.encrypt(apikey.encode("ascii")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise RuntimeError("API key cannot be decrypted: HONGYAN_SECRET_KEY differs from the one used") from exc


def load_keybox(settings: Settings) -> KeyBox:
    secret = settings.secret_key.get_secret_value()
    if not secret:
        path = Path(settings.var_dir) / "secret.key"
        if path.exists():
            secret = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(32)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first: use theirs
                secret = path.read_text().strip()
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secret + "\n")
    return KeyBox(secret)
