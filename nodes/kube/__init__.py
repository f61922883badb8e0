"""The Kubernetes access layer: the only code that imports `kubernetes` (lazily, it costs ~1 s)."""

from .errors import KubeError

__all__ = ["KubeError"]
