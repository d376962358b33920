"""An exclusive lock file: one process at a time owns a folder (a run folder, an ablation folder).

::

    with FolderLock("runs/mcd", what="mcd train"):      # writes runs/mcd/.lock
        ...                                             # only this process writes here

The lock file ``<folder>/.lock`` holds JSON naming the holder (pid, host, what, command, start
time) and is held with ``flock`` for as long as the process lives, so the kernel releases it
even when the process is killed. Rules when the file is already there:

* held (``flock`` refused) — another live process owns the folder: refused, naming the holder;
* not held, holder on this host and its pid gone — a stale lock (the process was killed):
  taken over, with a notice on stderr;
* not held, holder on this host and its pid alive — refused (the file system may not honour
  ``flock``, and we cannot tell); the message says how to remove the lock by hand;
* not held, holder on another host — refused likewise (we cannot see that host's processes).

The lock is re-entrant within a process (an evaluation inside an ablation, a prediction inside
an evaluation) and removed on release. Creating the folder happens here too, so ``--out`` that
is a file or lies in a folder without write permission is one clear error, not a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mcdlib.errors import McdError

LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # Windows: the pid/host rules alone
    fcntl = None

#: folders this process holds: resolved path -> [lock, depth]
_HELD: dict[str, list] = {}


@dataclass(frozen=True)
class Holder:
    """Who holds a lock (the content of the lock file)."""

    pid: int
    host: str
    what: str = ""
    command: str = ""
    started: str = ""

    def describe(self) -> str:
        parts = [f"pid {self.pid} on host {self.host}"]
        if self.what:
            parts.append(self.what)
        if self.started:
            parts.append(f"since {self.started}")
        return ", ".join(parts)

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _parse_holder(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["host"]), str(data.get("what", "")),
                      str(data.get("command", "")), str(data.get("started", "")))
    except (ValueError, KeyError, TypeError):
        return None


def read_holder(folder: str | Path) -> Holder | None:
    """The holder named in ``<folder>/.lock`` (None when there is no readable lock file)."""
    try:
        return _parse_holder((Path(folder) / LOCK_NAME).read_text())
    except OSError:
        return None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def prepare_folder(folder: str | Path, error: type[McdError] = McdError) -> Path:
    """Create ``folder`` (with parents) or raise ``error``: a file in the way, no permission."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise error(f"{folder}: exists and is not a folder; choose another output folder (--out)")
    if not folder.exists():
        parent = _nearest_existing(folder.parent)
        if parent.exists() and not parent.is_dir():
            raise error(f"{folder}: cannot be created because {parent} is a file; choose another output folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise error(f"{folder}: cannot be created: no write permission in {parent}; "
                        "choose a writable output folder (--out)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{folder}: cannot create the folder ({exc.strerror or exc}); "
                    "choose a writable output folder (--out)") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise error(f"{folder}: no write permission; choose a writable output folder (--out)")
    return folder


class FolderLock:
    """The exclusive lock of one folder (see the module doc); a context manager."""

    def __init__(self, folder: str | Path, what: str = "", error: type[McdError] = McdError):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.error = error
        self._fd: int | None = None

    @property
    def _key(self) -> str:
        return os.path.realpath(self.folder)

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> "FolderLock":
        prepare_folder(self.folder, self.error)
        held = _HELD.get(self._key)
        if held is not None:
            held[1] += 1
            return self
        for _ in range(5):
            fd = self._open()
            if self._lock(fd) and self._same_file(fd):
                break
            os.close(fd)  # the file was replaced while we waited: try again
        else:
            raise self.error(f"{self.path}: could not take the lock (the file keeps changing); try again")
        try:
            self._check_previous(fd)
            self._write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD[self._key] = [self, 1]
        return self

    def release(self) -> None:
        held = _HELD.get(self._key)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        owner = held[0]
        del _HELD[self._key]
        fd, owner._fd = owner._fd, None
        if fd is None:
            return
        try:
            if owner._same_file(fd):
                owner.path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ steps

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise self.error(f"{self.path}: cannot create the lock file ({exc.strerror or exc}); "
                             "choose a writable output folder (--out)") from None

    def _lock(self, fd: int) -> bool:
        """flock the file; refuse (naming the holder) when another process holds it."""
        if fcntl is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse_holder(self._read(fd))
            os.close(fd)
            who = holder.describe() if holder else "another process"
            raise self.error(f"{self.folder} is in use by {who}; wait until it ends or stop it, "
                             "or use another folder") from None
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            # a file system without flock: the pid/host rules below still apply
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    @staticmethod
    def _read(fd: int) -> str:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def _check_previous(self, fd: int) -> None:
        """The file was not held: take it over when its holder is gone, else refuse."""
        text = self._read(fd)
        if not text.strip():
            return
        holder = _parse_holder(text)
        manual = f"if it is not, delete {self.path} and retry"
        if holder is None:
            print(f"mcd: notice: {self.path} was unreadable (a crash while it was written?); taking it over",
                  file=sys.stderr)
            return
        if holder.on_this_host and holder.pid == os.getpid():
            return  # left by this very process (e.g. an earlier run in this notebook kernel)
        if not holder.on_this_host:
            raise self.error(f"{self.folder} is locked by {holder.describe()}; another machine may be using "
                             f"it ({manual})")
        if pid_alive(holder.pid):
            raise self.error(f"{self.folder} is locked by {holder.describe()}, which is still running; "
                             f"wait until it ends or stop it ({manual})")
        print(f"mcd: notice: taking over the stale lock of {self.folder}: {holder.describe()} is gone "
              "(killed or crashed)", file=sys.stderr)

    def _write_holder(self, fd: int) -> None:
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                  "command": " ".join(sys.argv)[:500],
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(holder) + "\n").encode())
            os.fsync(fd)
        except OSError as exc:
            raise self.error(f"{self.path}: cannot write the lock file ({exc.strerror or exc}); "
                             "check the free space and permissions of the folder") from None
