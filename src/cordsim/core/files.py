"""Reading user files safely: a size limit, so that ``/dev/zero`` or a huge file is refused."""

from __future__ import annotations

from pathlib import Path

MAX_TEXT_BYTES = 1_000_000  # scenario and parameter files are a few kB


def read_text_limited(path: str | Path, error: type[Exception], *, what: str = "file",
                      limit: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path``, or ``error`` naming the file when it is not a regular file,
    cannot be read, is larger than ``limit`` bytes or is not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {str(path)!r} is not a regular file")
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {str(path)!r} is larger than {limit // 1000} kB; "
                    "is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                    f"{exc.start})") from None
