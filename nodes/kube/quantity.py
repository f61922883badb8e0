"""Kubernetes resource quantities ("3900m", "16Gi", "16777216Ki", "137233567n", "1e3") read as numbers, and shown
in human units ("7.9 cores", "31.5 GiB")."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def parse(value) -> float | None:
    """The quantity as a plain number (cores for CPU, bytes for memory), or None when it is not one."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return _parse(str(value))


@lru_cache(maxsize=4096)
def _parse(value: str) -> float | None:  # the same few spellings come back for thousands of pods
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    try:
        return float(Decimal(m.group(1)) * _SUFFIX[m.group(2)])
    except InvalidOperation:
        return None


def _short(number: float) -> str:
    """One decimal under 100 (none when it is 0), written as the page's language writes numbers (1,497 in English,
    1497 in Chinese)."""
    from django.utils.formats import number_format

    decimals = 1 if number < 100 and round(number, 1) != round(number) else 0
    return number_format(round(number, decimals), decimal_pos=decimals, force_grouping=True)


def cores(value: float | None) -> str:
    """CPU in cores: "7.9 cores", "1 core", "250m" under one core."""
    if value is None:
        return ""
    if 0 < value < 1:
        return f"{round(value * 1000)}m"
    from django.utils.translation import ngettext

    text = _short(value)
    return ngettext("%(cores)s core", "%(cores)s cores", 1 if text == "1" else 2) % {"cores": text}


def binary_bytes(value: float | None) -> str:
    """Bytes in IEC units: "31.5 GiB", "512 MiB"."""
    if value is None:
        return ""
    size, unit = float(value), 0
    while size >= 1024 and unit < len(_IEC) - 1:
        size /= 1024
        unit += 1
    return f"{_short(size)} {_IEC[unit]}"


def percent(part: float | None, whole: float | None) -> int | None:
    if part is None or not whole:
        return None
    return round(100 * part / whole)
