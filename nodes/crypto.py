"""Kubeconfigs encrypted at rest: Fernet with a key derived from settings.SECRET_KEY (HKDF-SHA256).

Rotating SECRET_KEY: the former key goes into SECRET_KEY_FALLBACKS (config server.secret_key_fallbacks); stored
kubeconfigs are still decrypted with it, and `manage.py cluster_reencrypt` encrypts them again with the current key,
after which the fallback can be dropped.

The plaintext never leaves this module's callers' memory: it is not logged, rendered or put in errors.
"""

import base64
import functools
import hashlib

from django.conf import settings

_INFO = b"kubenode/kubeconfig-encryption/v1"


class DecryptionError(Exception):
    """The stored kubeconfig cannot be decrypted with the current SECRET_KEY."""


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(plaintext.encode()).decode("ascii")


def _multi():
    from cryptography.fernet import MultiFernet

    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(k) for k in keys])


def decrypt(token: str) -> str:
    """The plaintext, decrypted with SECRET_KEY or one of SECRET_KEY_FALLBACKS."""
    from cryptography.fernet import InvalidToken

    try:
        return _multi().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise DecryptionError(
            "the stored kubeconfig cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS; put the former key "
            "in SECRET_KEY_FALLBACKS, or import the cluster again"
        ) from None


def needs_reencryption(token: str) -> bool:
    """Whether the token was made with a key other than the current SECRET_KEY."""
    from cryptography.fernet import InvalidToken

    try:
        _fernet(settings.SECRET_KEY).decrypt(token.encode("ascii"))
        return False
    except (InvalidToken, ValueError):
        return True


def reencrypt(token: str) -> str:
    """The same plaintext, encrypted with the current SECRET_KEY (DecryptionError when no key opens it)."""
    return encrypt(decrypt(token))


def fingerprint(token: str) -> str:
    """A short, non-reversible identifier of a stored (encrypted) kubeconfig, for client caching."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
