"""Errors a user can cause: the CLI prints them as one line and exits 2."""
import difflib


class UserError(Exception):
    """Bad input detected before anything ran."""


class RunFailure(Exception):
    """A run failed for a stated reason (recorded, the matrix goes on)."""


def unknown_name(kind: str, name: str, available) -> UserError:
    """`unknown method 'lorra'; did you mean 'lora'? available: full, lora`."""
    available = sorted(available)
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return UserError(f"unknown {kind} '{name}'{hint} available: {', '.join(available) or '(none)'}")
