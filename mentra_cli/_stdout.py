"""stdout whose reader went away (``mentra list-agents | head -1``, ``mentra ... >&-``).

Every command ends the same way then: exit 141, as a process killed by SIGPIPE would, with
nothing on stderr. Python ignores SIGPIPE, so a closed pipe shows up as `BrokenPipeError` from
a write or a flush (the interpreter's own flush at exit included); this module holds the three
steps the process edge takes about it. Only the standard library: ``--version`` uses it too.
"""

from __future__ import annotations

import errno
import os
import sys

EXIT_READER_GONE = 141  # 128 + SIGPIPE


def is_reader_gone(exc: BaseException) -> bool:
    """A write or flush failed because nobody reads stdout any more."""
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE
    )


def ensure_stdout() -> None:
    """When the process started with fd 1 closed, Python sets ``sys.stdout`` to None and the
    first write is an AttributeError. Make fd 1 a pipe that has no reader instead: the first
    write then fails exactly as a closed pipe does."""
    if sys.stdout is not None:
        return
    try:
        os.fstat(1)
    except OSError:
        read_end, write_end = os.pipe()  # the lowest free fds: one of them may be 1 itself
        if write_end != 1:
            os.dup2(write_end, 1)  # closes a read end that landed on 1
            os.close(write_end)
        if read_end != 1:
            os.close(read_end)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 (lives as long as the process)


def reader_gone() -> int:
    """Point fd 1 at /dev/null, as the Python docs advise for SIGPIPE, so that nothing (not even
    the interpreter's flush at exit of what is still buffered) writes to the dead pipe again;
    give the exit status."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
    return EXIT_READER_GONE


def write_and_flush(text: str) -> int:
    """Write ``text`` to stdout for a command that does nothing else (``--version``)."""
    ensure_stdout()
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        if not is_reader_gone(exc):
            raise
        return reader_gone()
    return 0
