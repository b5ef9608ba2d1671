"""Writing many small files fast: their system calls made by a helper process on the other core.

A Python process that writes or hardlinks tens of thousands of files spends most of that time
in system calls made one at a time, each releasing and retaking the GIL. ``FileWriter`` queues
them and, past ``spawn_after`` calls, hands them to a helper: this module run as a script by the
same interpreter (``-I -S``: the standard library only, started by ``subprocess``, so no fork of a
possibly threaded process), which makes the calls while this process works out the next ones.
Before that, and wherever no helper can start, the calls are made here, one by one, as before.

The files go into a folder that becomes visible only when its owner renames it after ``close()``:
``close()`` waits for every queued call and raises the first failure as the ``OSError`` it was (a
``FileExistsError``, a full disk...); ``abort()`` stops the helper at once, so the owner can remove
the folder with nothing still writing into it. Standard library imports only (see above).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import threading
from typing import IO

# A batch: its byte length and number of calls; then each call's head (op, folder, source folder,
# len(name), len(data)); then every call's name and data, in order. Folders are named once (FOLDER:
# ``name`` is the folder's path, ``folder`` its new number); WRITE and LINK name files in them.
_BATCH = struct.Struct("<II")
_CALL = struct.Struct("<BIIHI")
FOLDER, WRITE, LINK = 0, 1, 2
_FLUSH = 256 << 10  # bytes queued for a helper before they are sent
SPAWN_AFTER = 1000  # calls made here before the helpers start (a small folder needs none)
HELPERS = 2  # processes taking batches in turn
_EXCL = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


_FS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # os.fsencode of a str, without its checks (a call per file)


def _write(path: bytes, data: bytes | memoryview, dir_fd: int | None = None) -> None:
    """Create ``path`` (never an existing file; mode 0644 less the umask) holding ``data``."""
    fd = os.open(path, _EXCL, 0o644, dir_fd=dir_fd)
    try:
        n = os.write(fd, data)
        if n != len(data):  # a short write (a large file, a signal): the rest
            view = memoryview(data)[n:]
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _copy(src: bytes, dst: bytes) -> None:
    """A real copy of ``src`` at ``dst`` (never an existing file)."""
    with open(src, "rb") as r, open(dst, "xb") as w:
        shutil.copyfileobj(r, w, 1 << 20)


def _link(src: bytes, dst: bytes, copying: list[bool]) -> None:
    """Hardlink ``src`` at ``dst``; where links fail (another file system, links not allowed),
    copy it, and copy every later file without trying (``copying[0]``). A missing ``src`` raises."""
    if not copying[0]:
        try:
            os.link(src, dst)
            return
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            copying[0] = True
    _copy(src, dst)


class FileWriter:
    """Queued file creations and hardlinks (see the module's docstring). Thread-safe. Each call
    makes its own file and the folders exist before it is queued, so batches of calls can go to
    the helpers in turn. A helper makes its calls relative to the folders it has open (a folder is
    named to it once: no path walked per file). A link's source is never a file this writer makes
    (batches are made in no set order)."""

    def __init__(self, spawn_after: int | None = SPAWN_AFTER, helpers: int = HELPERS):
        self._left = spawn_after  # calls to make here before starting the helpers (None: never)
        self._helpers = helpers
        self._procs: list[subprocess.Popen[bytes]] = []
        self._turn = 0  # the helper whose batch is being filled
        self._known: list[dict[str, int]] = []  # per helper: the folders named to it, by number
        self._heads: list[list[bytes]] = []  # per helper: the queued calls' heads
        self._blobs: list[list[bytes | memoryview]] = []  # ... their names and data
        self._sizes: list[int] = []
        self._lock = threading.Lock()
        self._copying = [False]

    def write(self, path: str, data: bytes | memoryview) -> None:
        """Create ``path`` holding ``data`` (it must not exist; its folder must)."""
        with self._lock:
            if self._helping(len(data)):
                h = self._turn
                folder, sep, name = path.rpartition("/")
                d = self._known[h].get(folder)
                if d is None:
                    d = self._named(h, folder, folder or ("/" if sep else "."))
                nb = name.encode(*_FS)
                self._heads[h].append(_CALL.pack(WRITE, d, 0, len(nb), len(data)))
                self._blobs[h] += (nb, data)
                self._queued(h, len(nb) + len(data))
                return
        _here(WRITE, path.encode(*_FS), data, self._copying)  # outside the lock: other threads' calls run meanwhile

    def link(self, src: str, dst: str) -> None:
        """Hardlink ``src`` at ``dst``; where links fail, copy it (and every later file)."""
        with self._lock:
            if self._helping(0):
                h, known = self._turn, self._known[self._turn]
                folder, sep, name = dst.rpartition("/")
                d = known.get(folder)
                if d is None:
                    d = self._named(h, folder, folder or ("/" if sep else "."))
                src_folder, sep, src_name = src.rpartition("/")
                s = known.get(src_folder)
                if s is None:
                    s = self._named(h, src_folder, src_folder or ("/" if sep else "."))
                sb, nb = src_name.encode(*_FS), name.encode(*_FS)
                self._heads[h].append(_CALL.pack(LINK, d, s, len(sb), len(nb)))
                self._blobs[h] += (sb, nb)
                self._queued(h, len(sb) + len(nb))
                return
        _here(LINK, src.encode(*_FS), dst.encode(*_FS), self._copying)

    @property
    def helped(self) -> bool:
        """Whether helper processes take the calls."""
        return bool(self._procs)

    def _helping(self, size: int) -> bool:
        """Whether this call goes to a helper: they are started (past ``spawn_after`` calls), and
        the file is small (no gain in piping a large one)."""
        if not self._procs and self._left is not None:
            self._left -= 1
            if self._left < 0 and not self._start():
                self._left = None
        return bool(self._procs) and size <= _FLUSH

    def _named(self, h: int, key: str, folder: str) -> int:
        """A number for ``folder`` (as ``rpartition`` gave it: ``key``) in helper ``h``, named to it
        before the calls that use it."""
        n = self._known[h][key] = len(self._known[h])
        path = folder.encode(*_FS)
        self._heads[h].append(_CALL.pack(FOLDER, n, 0, len(path), 0))
        self._blobs[h].append(path)
        self._sizes[h] += len(path)
        return n

    def _queued(self, h: int, size: int) -> None:
        self._sizes[h] += _CALL.size + size
        if self._sizes[h] >= _FLUSH:
            self._send(h)
            self._turn = (h + 1) % len(self._procs) if self._procs else 0

    def _start(self) -> bool:
        """Start the helpers; False (calls stay here) when none can start."""
        script = os.path.abspath(__file__)
        if not sys.executable or not script.endswith(".py") or not os.path.isfile(script):
            return False
        for _ in range(self._helpers):
            try:
                proc = subprocess.Popen([sys.executable, "-I", "-S", script], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
            except OSError:
                break
            with contextlib.suppress(OSError, AttributeError):  # a larger pipe: fewer switches (Linux)
                fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, _FLUSH)  # type: ignore[union-attr]
            self._procs.append(proc)
        n = len(self._procs)
        self._known, self._heads, self._blobs, self._sizes = [{} for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)], [0] * n
        return bool(n)

    def _send(self, h: int) -> None:
        """The calls queued for helper ``h``, as one batch."""
        heads, blobs = self._heads[h], self._blobs[h]
        if not heads:
            return
        proc = self._procs[h]
        assert proc.stdin is not None
        body = b"".join(heads) + b"".join(blobs)
        view = memoryview(_BATCH.pack(len(body), len(heads)) + body)
        self._heads[h], self._blobs[h], self._sizes[h] = [], [], 0
        try:
            while view:
                view = view[proc.stdin.write(view) or 0:]
        except BrokenPipeError:  # the helper stopped at a failure: raise it
            self._finish()

    def close(self) -> None:
        """Wait for every queued call; raise the first that failed."""
        with self._lock:
            if self._procs:
                for h in range(len(self._procs)):
                    if self._procs:  # (a failure raised while sending ends them all)
                        self._send(h)
                self._finish()

    def _finish(self) -> None:
        """Wait for the helpers (their input ended); raise a failure one of them reported."""
        procs, self._procs = self._procs, []
        self._left = None  # anything after a failure or close runs here
        self._heads, self._blobs, self._sizes = [], [], []
        try:
            for proc in procs:  # every helper sees the end of its input, then each is waited for
                assert proc.stdin is not None
                proc.stdin.close()
            failures = [_failure(proc) for proc in procs]
        except BaseException:  # interrupted while waiting (Ctrl-C): no helper outlives this call
            for proc in procs:
                proc.kill()
                proc.wait()
            raise
        for exc in failures:
            if exc is not None:
                raise exc

    def abort(self) -> None:
        """Stop the helpers without waiting for what they were given (the owner removes the folder)."""
        with self._lock:
            procs, self._procs = self._procs, []
            self._left, self._heads, self._blobs, self._sizes = None, [], [], []
        for proc in procs:
            proc.kill()
            proc.communicate()


def _here(op: int, a: bytes, b: bytes | memoryview, copying: list[bool]) -> None:
    """One call made by this process; a failure names its files by str, as the caller gave them."""
    try:
        if op == WRITE:
            _write(a, b)
        else:
            _link(a, bytes(b), copying)
    except OSError as exc:
        exc.filename = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else exc.filename
        exc.filename2 = os.fsdecode(exc.filename2) if isinstance(exc.filename2, bytes) else exc.filename2
        raise


def _failure(proc: subprocess.Popen[bytes]) -> OSError | None:
    """Wait for a helper whose input ended: the failure it reported (its OSError, rebuilt), if any."""
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()  # a few bytes at most: one failure, or a traceback
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    if out:
        code, message, *hexed = json.loads(out)
        name, name2 = (os.fsdecode(bytes.fromhex(n)) if n is not None else None for n in (hexed + [None, None])[:2])
        return OSError(code, message, name) if name2 is None else OSError(code, message, name, None, name2)
    if proc.returncode:
        last = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        return OSError(errno.EIO, f"the file writer process exited with status {proc.returncode}: {last}")
    return None


def _read_exact(inp: IO[bytes], n: int) -> bytes:
    data = inp.read(n) if n else b""  # a buffered pipe reads until n bytes or its end
    if len(data) != n:
        raise EOFError("the file writer's input ended inside a batch")
    return data


def _in(name: bytes, k: int, fds: list[int], paths: list[bytes]) -> tuple[bytes, int | None]:
    """``name`` in folder ``k``: relative to its descriptor, or by whole path if none is kept open."""
    return (name, fds[k]) if fds[k] >= 0 else (paths[k] + b"/" + name, None)


def _held() -> int:
    """How many folders a helper keeps open: half its descriptor limit (an export to thousands of
    folders otherwise failed with 'Too many open files'); later ones are used by path."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(8, soft // 2) if 0 < soft < 1 << 20 else 1 << 19


def _link_in(src: bytes, dst: bytes, s: int, d: int, fds: list[int], paths: list[bytes], copying: list[bool]) -> None:
    """``_link`` of ``src`` in folder ``s`` at ``dst`` in folder ``d`` (open folders: no path walked)."""
    if not copying[0]:
        try:
            (a, afd), (b, bfd) = _in(src, s, fds, paths), _in(dst, d, fds, paths)
            os.link(a, b, src_dir_fd=afd, dst_dir_fd=bfd)
            return
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            copying[0] = True
    _copy(paths[s] + b"/" + src, paths[d] + b"/" + dst)


def _whole(name: bytes, folder: bytes) -> bytes:
    """A failed call's file name as a path: a name made relative to an open folder gets the folder's path."""
    return name if b"/" in name or not folder else folder + b"/" + name


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """The helper: make each call of each batch read from ``inp``; at the first failure, write
    it to ``out`` as JSON ``[errno, message, file name as hex, second file name as hex]`` (whole
    paths) and stop (status 1)."""
    copying = [False]
    paths: list[bytes] = []  # the folders named so far, by number, and their descriptors (-1: used by path)
    fds: list[int] = []
    held = _held()
    while head := inp.read(_BATCH.size):
        if len(head) != _BATCH.size:
            raise EOFError("the file writer's input ended inside a batch")
        size, count = _BATCH.unpack(head)
        body = memoryview(_read_exact(inp, size))
        pos = count * _CALL.size
        for op, d, s, la, lb in _CALL.iter_unpack(body[:pos]):
            a, b = bytes(body[pos:pos + la]), body[pos + la:pos + la + lb]
            pos += la + lb
            try:
                if op == WRITE:
                    path, at = _in(a, d, fds, paths)
                    _write(path, b, at)
                elif op == LINK:
                    _link_in(a, bytes(b), s, d, fds, paths, copying)
                elif op == FOLDER:
                    fds.append(os.open(a, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)) if len(fds) < held else -1)
                    paths.append(a)
                else:
                    raise OSError(errno.EINVAL, f"unknown file operation {op}")
            except OSError as exc:
                folders = (paths[s] if op == LINK else paths[d], paths[d]) if op != FOLDER else (b"", b"")
                names = [None if n is None else _whole(os.fsencode(n), f).hex() for n, f in zip((exc.filename, exc.filename2), folders)]
                out.write(json.dumps([exc.errno, exc.strerror or str(exc), *names]).encode())
                out.flush()
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
