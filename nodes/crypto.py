"""Kubeconfigs encrypted at rest: Fernet with a key derived from settings.SECRET_KEY (HKDF-SHA256).

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


def decrypt(token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(settings.SECRET_KEY).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise DecryptionError(
            "the stored kubeconfig cannot be decrypted with the current SECRET_KEY; import the cluster again"
        ) from None


def fingerprint(token: str) -> str:
    """A short, non-reversible identifier of a stored (encrypted) kubeconfig, for client caching."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
