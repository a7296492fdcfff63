"""Errors a user or a plugin can cause, and how they become one line."""
import difflib


class UserError(Exception):
    """Bad input detected before anything ran: the CLI prints one line and exits 2."""


class RunFailure(Exception):
    """A run failed for a stated reason (recorded, the matrix goes on)."""


def unknown_name(kind: str, name: str, available) -> UserError:
    """`unknown method 'lorra'; did you mean 'lora'? available: full, lora`."""
    available = sorted(available)
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return UserError(f"unknown {kind} '{name}'{hint} available: {', '.join(available) or '(none)'}")


def one_line(text: str, limit: int = 800) -> str:
    """Text as one printable line: control characters escaped (a value may hold any), at most `limit`."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def first_line(exc: BaseException, with_type: bool | None = None) -> str:
    """An exception as one line: its message's first line, prefixed by its type unless it is ours.

    `with_type` forces the type prefix on (True) or off (False); by default benchhub's own
    errors (UserError, RunFailure) speak for themselves and others say what they are.
    """
    text = str(exc).strip()
    message = text.splitlines()[0] if text else ""
    if with_type is None:
        with_type = not isinstance(exc, (UserError, RunFailure))
    if not with_type:
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# said wherever the Hub was needed and could not be reached: benchhub never decides hub access itself
HUB_SETTINGS = (" (benchhub leaves hub access to your environment: HF_HUB_OFFLINE=1 reads only the local cache, "
                "HF_ENDPOINT names a mirror)")
