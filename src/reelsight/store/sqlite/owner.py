"""One owner per store file, and noticing when the path stops naming the file a process has open.

A serving process (``serve``, ``demo``) holds an exclusive ``flock`` on the sidecar ``<db>.lock`` for
its whole life. The lock is on a sidecar, never on the database file itself: closing any other
descriptor of that file would drop SQLite's own POSIX locks. The kernel releases a ``flock`` when its
holder dies, so after ``kill -9`` a restart claims it at once. The holder writes its pid and command
into the file, so a refused second server can name it.
"""

from __future__ import annotations

import datetime
import fcntl
import os

from reelsight.errors import StoreInUse

LOCK_SUFFIX = ".lock"
_MAX_HOLDER_CHARS = 200


class FileIdentity:
    """The (device, inode) a path named when it was opened; :meth:`problem` says if that changed."""

    def __init__(self, path: str, fd: int | None = None) -> None:
        self.path = path
        st = os.fstat(fd) if fd is not None else os.stat(path)
        self._identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        """``None`` while the path still names the same file; otherwise what happened to it."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted"
        except OSError as exc:
            return f"{self.path} can no longer be checked ({exc.strerror})"
        if (st.st_dev, st.st_ino) != self._identity:
            return f"{self.path} was replaced by another file"
        return None


class StoreOwnership:
    """The exclusive claim of one process on a store file; released by :meth:`release` or death."""

    def __init__(self, db_path: str, fd: int) -> None:
        self.lock_path = db_path + LOCK_SUFFIX
        self._fd = fd
        self.identity = FileIdentity(self.lock_path, fd)

    @classmethod
    def claim(cls, db_path: str, *, command: str) -> StoreOwnership:
        """Claim ``db_path`` for this process, or raise :class:`StoreInUse` naming the holder."""
        lock_path = db_path + LOCK_SUFFIX
        for _attempt in range(5):
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise StoreInUse(
                    f"{db_path} is already served by another Reelsight process ({holder}); stop it first,"
                    " or give this one another --db"
                ) from None
            try:
                if FileIdentity(lock_path, fd).problem() is None:
                    break  # the path still names the file we locked (it was not deleted meanwhile)
            except OSError:
                pass
            os.close(fd)
        else:  # pragma: no cover - the lock file deleted five times in a row while claiming
            raise StoreInUse(f"could not claim {lock_path}: it keeps being deleted")
        since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({command}, since {since})\n".encode(), 0)
        return cls(db_path, fd)

    def problem(self) -> str | None:
        problem = self.identity.problem()
        return None if problem is None else f"the ownership lock {problem}"

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, _MAX_HOLDER_CHARS, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"
