"""Output folders: one writer for every command, so that a folder always holds one whole run.

:func:`output_folder` is a context manager around the writing of a command's results:

* **lock**: a lock file beside the folder (``.NAME.cordsim-lock``, ``flock``) refuses a
  second cordsim command into a folder in use; the kernel releases it when the process ends,
  however it ends;
* **temporary folder, one rename**: the command writes into ``.NAME.cordsim-tmp-XXXX`` beside
  the folder; at the end the manifest is written and the temporary folder replaces the
  folder in one rename (an atomic exchange on Linux). Until then an earlier run in the
  folder stays as it was; a run that fails or is killed leaves it untouched (a killed run's
  temporary folder is removed by the next run into the same folder);
* **provenance**: ``provenance.json`` says what made the folder (:func:`provenance`: version,
  git description, model and parameter-set hashes, command line, time, platform);
* **manifest**: ``manifest.json`` lists every file with its size and SHA-256 and is written
  last, so :func:`verify_folder` (``cordsim report``) can refuse a folder whose files do not
  belong to one run.

A resumable command (``cordsim cohort``, ``cordsim sensitivity``: rerun to resume) writes in
place with ``resume=True``: the lock and the manifest, no temporary folder.

Replacing a folder deletes what it held, so an existing folder is replaced only when it is
empty, holds a cordsim manifest, or holds nothing but the command's own outputs (``known``
name patterns, for folders written before manifests existed); anything else is refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import fnmatch
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cordsim._version import __version__
from cordsim.errors import ScenarioError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "cordsim output folder 1"
LOCK_SUFFIX = ".cordsim-lock"
TMP_MARK = ".cordsim-tmp-"
OLD_MARK = ".cordsim-old-"
# files a report or a later command may add to a finished folder without breaking it
ADDED_LATER = ("report.html",)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def write_manifest(folder: str | Path, command: str) -> Path:
    """Write ``folder/manifest.json``: every file's size and SHA-256, the command and the
    cordsim version (written last: a folder with it is complete)."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size,
                                                "sha256": _sha256(p)}
             for p in _files(folder) if p.name != MANIFEST}
    data = {"format": MANIFEST_FORMAT, "command": command, "cordsim_version": __version__,
            "written": datetime.now(UTC).isoformat(timespec="seconds"), "files": files}
    path = folder / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


PROVENANCE = "provenance.json"


def git_describe() -> str:
    """``git describe --always --dirty`` of the source tree cordsim runs from, or "unknown"
    (an installed wheel, no git)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=here,
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def provenance(command: str) -> dict[str, Any]:
    """What made an output folder: cordsim's version and git description, the model's and
    the shipped parameter set's hashes, the command line, the time and the platform."""
    import platform
    import sys

    from cordsim.biology import CordModel
    from cordsim.data import default_parameters

    return {"cordsim_version": __version__, "git_describe": git_describe(),
            "model_hash": CordModel().structure_hash,
            "parameter_set": "rat", "parameter_set_hash": default_parameters("rat").hash,
            "command": command, "argv": ["cordsim", *sys.argv[1:]]
            if Path(sys.argv[0]).name == "cordsim" else list(sys.argv),
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform()}


def write_provenance(folder: str | Path, command: str) -> Path:
    """``folder/provenance.json`` (:func:`provenance`)."""
    path = Path(folder) / PROVENANCE
    path.write_text(json.dumps(provenance(command), indent=1), encoding="utf-8")
    return path


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (or one that is not cordsim's)."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT \
            or not isinstance(data.get("files"), dict):
        return None
    return data


def verify_folder(folder: str | Path, *, ignore: tuple[str, ...] = ADDED_LATER) -> dict[str, Any]:
    """The manifest of ``folder`` after checking that every file it lists is there with its
    size and hash and that no other file was added (but ``ignore``); a ScenarioError naming
    the files otherwise."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise ScenarioError(f"{folder} has no cordsim manifest ({MANIFEST}): it is not a "
                            "complete cordsim output folder (a run that was interrupted, one "
                            "written by cordsim before 0.2, or files put together by hand); "
                            "rerun the command into it")
    listed = manifest["files"]
    present = {p.relative_to(folder).as_posix() for p in _files(folder)} - {MANIFEST}
    missing = sorted(set(listed) - present)
    added = sorted(n for n in present - set(listed)
                   if not any(fnmatch.fnmatch(n, pat) for pat in ignore))
    changed = []
    for name in sorted(set(listed) & present):
        entry, path = listed[name], folder / name
        if not isinstance(entry, dict) or path.stat().st_size != entry.get("bytes") \
                or _sha256(path) != entry.get("sha256"):
            changed.append(name)
    problems = [f"{what}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                for what, names in (("changed since the run", changed),
                                    ("missing", missing), ("not written by the run", added))
                if names]
    if problems:
        raise ScenarioError(f"{folder}: the files do not belong to one run ("
                            + "; ".join(problems) + "); rerun the command into the folder")
    return manifest


# ------------------------------------------------------------------------------ locking
class _Lock:
    """An exclusive ``flock`` on ``path``, refused (not waited for) when another process
    holds it."""

    def __init__(self, path: Path, folder: Path) -> None:
        import fcntl

        self.path = path
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = ""
                with contextlib.suppress(OSError, ValueError):
                    holder = f" (process {int(os.read(fd, 32).decode().strip())})"
                os.close(fd)
                raise ScenarioError(f"output folder {str(folder)!r} is in use by another "
                                    f"cordsim command{holder}; wait for it to finish or "
                                    "choose another --out") from None
            # the holder before us may have removed the file as it finished: lock the file
            # that is there now, not an unlinked one
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()  # still held: no one else can be between open and flock
        os.close(self.fd)


# ------------------------------------------------------------------------------ renaming
def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def _publish(tmp: Path, out: Path) -> None:
    """Put ``tmp`` in the place of ``out`` (which may exist) with one rename."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the earlier run
        return
    old = out.with_name(f".{out.name}{OLD_MARK}{os.getpid()}")
    os.rename(out, old)  # a kill between the two renames leaves the earlier run here
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_replaceable(out: Path, known: tuple[str, ...]) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ScenarioError(f"output folder {str(out)!r} exists and is not a folder")
    manifest = read_manifest(out)
    if manifest is not None:  # a cordsim folder: its own files, and what may be added later
        known = (MANIFEST, *ADDED_LATER, *{name.split("/")[0] for name in manifest["files"]})
    entries = sorted(p.name for p in out.iterdir())
    foreign = [n for n in entries if not any(fnmatch.fnmatch(n, pat) for pat in known)]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ScenarioError(f"output folder {str(out)!r} holds files no cordsim run wrote "
                            f"({shown}); cordsim replaces its output folder as a whole, so "
                            "give a new or empty folder (or move those files)")


def _resolve(path: str | Path, *, replacing: bool = True) -> Path:
    if not str(path).strip():
        raise ScenarioError("output folder must not be empty (give e.g. --out results/run)")
    out = Path(os.path.abspath(path))
    if out.is_symlink() and out.resolve().is_dir():
        out = out.resolve()  # replace the folder the link points to, keep the link
    try:
        here = Path.cwd().resolve()
    except OSError:
        here = Path("/")
    if out.parent == out or (replacing and (out == here or out in here.parents)):
        raise ScenarioError(f"--out {str(path)!r} is this folder or one above it; cordsim "
                            "replaces its output folder as a whole: give a folder of its own")
    return out


@contextlib.contextmanager
def output_folder(path: str | Path, *, command: str = "cordsim", resume: bool = False,
                  known: tuple[str, ...] = ()) -> Iterator[Path]:
    """Lock ``path``, yield the folder to write into (a temporary folder beside ``path``, or
    ``path`` itself with ``resume``), then write the manifest and publish it; see the module
    docstring. If the body raises, the temporary folder is removed and ``path`` is left as
    it was (with ``resume``: as far as the command got); folders this call created are
    removed when empty."""
    out = _resolve(path, replacing=not resume)
    created = [] if out.exists() else [out]  # removed again if the command fails and empty
    for parent in out.parents:
        if parent.exists():
            break
        created.append(parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = _Lock(out.parent / f".{out.name}{LOCK_SUFFIX}", out)
    except OSError as exc:
        _remove_empty(created)
        raise ScenarioError(f"output folder {str(path)!r} is not writable: "
                            f"{exc.strerror or exc}") from None
    except ScenarioError:
        _remove_empty(created)
        raise
    tmp: Path | None = None
    try:
        name = glob.escape(out.name)
        for stale in out.parent.glob(f".{name}{TMP_MARK}*"):  # a killed run's
            shutil.rmtree(stale, ignore_errors=True)
        for stale in out.parent.glob(f".{name}{OLD_MARK}*"):
            if out.exists():
                shutil.rmtree(stale, ignore_errors=True)
            else:  # killed between the two renames of a system without an exchange
                os.rename(stale, out)
        if resume:
            if out.exists() and not out.is_dir():
                raise ScenarioError(f"output folder {str(out)!r} exists and is not a folder")
            out.mkdir(exist_ok=True)
            (out / MANIFEST).unlink(missing_ok=True)  # the folder is changing
            target = out
        else:
            _check_replaceable(out, known)
        try:
            if not resume:
                tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{TMP_MARK}", dir=out.parent))
                os.chmod(tmp, 0o777 & ~_umask())  # as mkdir makes it, not mkdtemp's 0700
                target = tmp
            with tempfile.NamedTemporaryFile(dir=target, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise ScenarioError(f"output folder {str(path)!r} is not writable: "
                                f"{exc.strerror or exc}") from None
        yield target
        write_provenance(target, command)
        write_manifest(target, command)
        if tmp is not None:
            _publish(tmp, out)
            tmp = None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        lock.release()
        _remove_empty(created)
        raise
    lock.release()


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first: only folders this call made, if empty
        with contextlib.suppress(OSError):
            folder.rmdir()


def published(paths: list[Path], tmp: Path, out: str | Path) -> list[Path]:
    """``paths`` written in the folder ``tmp`` that :func:`output_folder` gave, as they are
    named once it is published as ``out``."""
    result = []
    for p in paths:
        try:
            result.append(Path(out) / Path(p).relative_to(tmp))
        except ValueError:
            result.append(Path(p))
    return result


@contextlib.contextmanager
def output_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path`` to write; it replaces ``path`` in one rename
    when the body succeeds and is removed when it fails (``path`` untouched). A symlink at
    ``path`` is replaced, not followed."""
    path = Path(path)
    if not str(path).strip() or path.is_dir():
        raise ScenarioError(f"{str(path)!r} must name a file to write, not a folder")
    parent = path.parent
    if not parent.is_dir():
        raise ScenarioError(f"folder {str(parent)!r} does not exist")
    special = path.exists() and not path.is_file() and not path.is_symlink()
    if special:  # a device (/dev/full, /dev/null): write to it directly, as asked
        yield path
        return
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise ScenarioError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
