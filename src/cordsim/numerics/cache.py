"""The compile cache: generated sources and numba's machine code, checked before they run.

**The cache holds code that cordsim executes** (generated Python, and numba's pickled index
and machine code), so it must be writable by you alone. Generated model code is written to
``$CORDSIM_CACHE_DIR`` (default ``~/.cache/cordsim``) with the SHA-256 of its text in its
first line; numba caches the machine code it compiles (index ``.nbi`` and data ``.nbc``
files) and cordsim records their SHA-256 in a ``cordsim-manifest.json`` beside them.

* Like ssh and pip, cordsim refuses a cache folder (or its ``__pycache__``, or a file in it)
  that is not owned by you or that group or others may write: it warns and uses a private
  temporary cache instead, removed when the process ends. The hashes below catch accidents,
  not tampering: anyone who can write the folder could also rewrite a hash.
* Before anything read back from the cache runs, it is checked against its hash: a damaged
  file (truncated, overwritten, garbage) is deleted, regenerated or recompiled, and a
  warning says so; generated code that does not compile is regenerated likewise.
* A cache that cannot be written only costs time (a temporary folder is used and removed
  at exit).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any


class CacheWarning(UserWarning):
    """A damaged or unsafe cache file or folder was found; cordsim rebuilt it or used a
    private temporary cache."""


def configured_cache_dir() -> Path:
    """The configured folder of the compile cache: ``$CORDSIM_CACHE_DIR`` or
    ``~/.cache/cordsim`` (see :func:`cache_dir` for the folder used)."""
    env = os.environ.get("CORDSIM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "cordsim"


def unsafe(path: Path) -> str | None:
    """Why ``path`` (a cache folder or file) could hold someone else's code, or None: it is
    not owned by this user, or group or others may write it. A path that does not exist is
    safe (it will be created private)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"is owned by user id {st.st_uid}, not by you ({os.getuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group and others" if st.st_mode & stat.S_IWOTH and st.st_mode & stat.S_IWGRP \
            else "others" if st.st_mode & stat.S_IWOTH else "its group"
        return f"is writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


_TEMPORARY: dict[str, Path] = {}  # this process's private fallback cache


def temporary_cache() -> Path:
    """A private (0700) temporary cache folder for this process, removed when it exits."""
    if "dir" not in _TEMPORARY:
        path = Path(tempfile.mkdtemp(prefix="cordsim-cache-"))
        owner = os.getpid()

        def remove() -> None:
            if os.getpid() == owner:  # not in a forked worker that inherited the handler
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(remove)
        _TEMPORARY["dir"] = path
    return _TEMPORARY["dir"]


_CHECKED: dict[Path, Path] = {}


def cache_dir() -> Path:
    """Folder of the compile cache: :func:`configured_cache_dir` when it (and its
    ``__pycache__``) is yours alone, else a private temporary cache with a warning."""
    configured = configured_cache_dir()
    if configured not in _CHECKED:
        why = next(((p, r) for p in (configured, configured / "__pycache__")
                    if (r := unsafe(p)) is not None), None)
        if why is None:
            _CHECKED[configured] = configured
        else:
            _report(f"the compile cache {why[0]} {why[1]}: it holds code that cordsim runs, "
                    "so it is not used (a private temporary cache is, removed at exit); make "
                    f"it yours alone ('chmod go-w {why[0]}') or set CORDSIM_CACHE_DIR")
            _CHECKED[configured] = temporary_cache()
    return _CHECKED[configured]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _report(message: str) -> None:
    warnings.warn(f"cordsim: {message}", CacheWarning, stacklevel=3)


def write_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename; False if the cache
    is not writable."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)  # the cache holds code: yours alone
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                         suffix=".tmp") as fh:
            fh.write(text)
        os.replace(fh.name, path)
        return True
    except OSError:
        return False


def read_source(path: Path) -> str | None:
    """The body of a generated source file if its hash line matches, else None (a damaged
    file, or one others may have written, is reported and deleted)."""
    why = unsafe(path)
    if why is not None:
        _report(f"cache file {path} {why}: not used (it would run as code); regenerated")
        try:
            path.unlink()
        except OSError:
            pass
        return None
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        if path.exists():
            _report(f"unreadable cache file {path}; regenerated")
        return None
    header, _, body = text.partition("\n")
    if header == f"# sha256={_sha256(body.encode())}":
        return body
    _report(f"damaged cache file {path} (content does not match its hash); regenerated")
    try:
        path.unlink()
    except OSError:
        pass
    return None


def write_source(path: Path, body: str) -> bool:
    """Write generated source with its hash line (see :func:`read_source`)."""
    return write_atomic(path, f"# sha256={_sha256(body.encode())}\n{body}")


def source_module(name: str, body: str) -> Path:
    """A generated module's file in the cache (verified or rewritten), for importing; a
    temporary folder when the cache is not writable."""
    path = cache_dir() / f"{name}.py"
    if read_source(path) != body and not write_source(path, body):
        path = temporary_cache() / f"{name}.py"  # removed at exit, not left behind
        write_source(path, body)
    return path


def import_module(name: str, path: Path) -> Any:
    """Import a generated module from a file (numba's disk cache needs a real file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache re-imports it by name
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------- numba machine code
_MANIFEST = "cordsim-manifest.json"  # beside numba's files, shared by whoever uses them


def _numba_files(dispatcher: Any) -> list[Path]:
    """The index and data files numba keeps for one compiled function."""
    cache_file = dispatcher._cache._cache_file
    index = Path(cache_file._index_path)
    stem = index.name.removesuffix(".nbi")
    return [index, *sorted(index.parent.glob(f"{stem}.*.nbc"))]


def _manifest_path(dispatcher: Any) -> Path:
    return _numba_files(dispatcher)[0].parent / _MANIFEST


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _purge(dispatcher: Any) -> None:
    for path in _numba_files(dispatcher):
        try:
            path.unlink()
        except OSError:
            pass


def _compile(compilable: Any, signature: Any) -> None:
    if signature is None:  # a C callback knows its own signature
        compilable.compile()
    else:
        compilable.compile(signature)
        compilable.disable_compile()


def compile_checked(dispatchers: list[tuple[Any, Any]]) -> None:
    """Compile (or load from numba's cache) each ``(dispatcher, signature)`` (a dispatcher
    with a signature, or a C callback with ``None``), after checking its cached files against
    the manifest; a damaged cache is deleted and recompiled."""
    for dispatcher, _ in dispatchers:
        path = _manifest_path(dispatcher)
        manifest = _read_manifest(path) if unsafe(path) is None else {}
        files = [p for p in _numba_files(dispatcher) if p.exists()]
        bad = [p for p in files
               if unsafe(p) is not None or manifest.get(p.name) != _sha256(p.read_bytes())]
        if bad:
            if any(p.name in manifest for p in bad):
                _report(f"damaged compiled-code cache ({', '.join(p.name for p in bad)}): "
                        "deleted, recompiling")
            _purge(dispatcher)  # (files no manifest vouches for are rebuilt silently)
    for dispatcher, signature in dispatchers:
        try:
            _compile(dispatcher, signature)
        except Exception as exc:  # noqa: BLE001 - numba raises many types on a bad cache
            _report(f"unreadable compiled-code cache ({type(exc).__name__}: {exc}): deleted, "
                    "recompiling")
            _purge(dispatcher)
            dispatcher._cache.flush()
            _compile(dispatcher, signature)
    for dispatcher, _ in dispatchers:
        path = _manifest_path(dispatcher)
        manifest = _read_manifest(path)  # re-read: another process may have added entries
        for p in _numba_files(dispatcher):
            if p.exists():
                manifest[p.name] = _sha256(p.read_bytes())
        write_atomic(path, json.dumps(manifest, indent=0, sort_keys=True))
