"""Numbers with units, as HAProxy reads them: times, sizes and plain integers.

Times: an unsigned integer with an optional unit (us, ms, s, m, h, d); a bare number is in the
keyword's default unit (milliseconds unless the keyword says otherwise). Results are integer
milliseconds (microseconds round up, so '500us' is not a zero timeout). Sizes: an integer with
an optional k, m or g suffix (powers of 1024). Every failure raises ConfigError with a message
that names the value and the keyword.
"""

from __future__ import annotations

from haproxy_py.config.diagnostics import ConfigError

TIME_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
TIME_UNITS_US["d"] = 24 * TIME_UNITS_US["h"]
TIME_UNIT_NAMES = "us, ms, s, m, h, d"

# HAProxy stores timers as signed 32-bit milliseconds.
MAX_TIME_MS = 2_147_483_647

SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _split_number(text: str) -> tuple[str, str]:
    end = 0
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    return text[:end], text[end:]


def parse_time(text: str, keyword: str, default_unit: str = "ms") -> int:
    """Parse a time value and return it in milliseconds."""
    digits, unit = _split_number(text)
    if not digits:
        raise ConfigError(
            f"bad time value '{text}' for '{keyword}': expected a number"
            f" optionally followed by a unit ({TIME_UNIT_NAMES})"
        )
    unit = unit or default_unit
    scale = TIME_UNITS_US.get(unit.lower())
    if scale is None:
        bad = unit[0]
        raise ConfigError(
            f"bad time value '{text}' for '{keyword}': unexpected character '{bad}'"
            f" (units: {TIME_UNIT_NAMES})"
        )
    micros = int(digits) * scale
    millis = -(-micros // 1000)
    if millis > MAX_TIME_MS:
        raise ConfigError(
            f"time value '{text}' for '{keyword}' is too large"
            f" (maximum is {MAX_TIME_MS} ms, about 24.8 days)"
        )
    return millis


def parse_size(text: str, keyword: str, maximum: int | None = None) -> int:
    """Parse a size with an optional k/m/g suffix and return it in bytes."""
    digits, unit = _split_number(text)
    scale = SIZE_UNITS.get(unit.lower())
    if not digits or scale is None:
        raise ConfigError(
            f"bad size value '{text}' for '{keyword}': expected a number"
            " optionally followed by k, m or g"
        )
    value = int(digits) * scale
    if maximum is not None and value > maximum:
        raise ConfigError(f"size '{text}' for '{keyword}' is too large (maximum is {maximum})")
    return value


def parse_int(
    text: str, keyword: str, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Parse a decimal integer (a leading '-' allowed) within optional bounds."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise ConfigError(f"'{keyword}' expects an integer, got '{text}'")
    value = int(text)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f" from {minimum}"
        high = "" if maximum is None else f" to {maximum}"
        raise ConfigError(f"'{keyword}' expects an integer{low}{high}, got '{text}'")
    return value
