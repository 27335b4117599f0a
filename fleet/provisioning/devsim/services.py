"""adbd services of a simulated phone: shell (v1 and v2), exec, abb_exec, sync, reboot and the
streamed install (``exec:cmd package 'install' -S SIZE`` / ``abb_exec:package\\0install...``).

Sync records follow ``SYNC.TXT``/``file_sync_protocol.h``: STAT/STA2/LST2, LIST/LIS2, SEND
(``path,mode`` then DATA chunks of at most 64 KiB and DONE with the mtime, answered OKAY or
FAIL), RECV (DATA chunks then DONE) and QUIT.
"""

from __future__ import annotations

import shlex
import struct
import time
from typing import TYPE_CHECKING

from . import protocol as P
from .transport import Stream, StreamClosed, shell_args

if TYPE_CHECKING:  # pragma: no cover
    from .phone import SimPhone

#: A push is unplugged by an ``unplug_during="push"`` fault after this many bytes.
PUSH_FAULT_BYTES = 256 * 1024


def serve(name: str):
    """The coroutine function serving service ``name``, or ``None`` if adbd would refuse it."""
    if name.startswith("shell"):
        return shell_service
    if name.startswith("exec:"):
        return exec_service
    if name.startswith("abb_exec:"):
        return abb_exec_service
    if name.startswith("sync:"):
        return sync_service
    if name.startswith("reboot:"):
        return reboot_service
    if name.startswith(("root:", "remount:", "unroot:")):
        return root_service
    return None


def _streamed_install_argv(argv: list[str]) -> int | None:
    """The ``-S`` size if ``argv`` is ``cmd package install ... -S N`` (or ``pm install``)."""
    if argv[:3] == ["cmd", "package", "install"] or argv[:2] == ["pm", "install"]:
        if "-S" in argv:
            return int(argv[argv.index("-S") + 1])
    return None


async def _maybe_unplug_for(phone: SimPhone, argv: list[str]) -> bool:
    if argv and phone.step_fault(argv[0]):
        phone.trigger_unplug(f"during {argv[0]}")
        return True
    return False


async def shell_service(phone: SimPhone, stream: Stream, name: str) -> None:
    opts, command = shell_args(name)
    v2 = "v2" in opts
    if not command.strip():
        await interactive_shell(phone, stream, v2, pty="raw" not in opts)
        return
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    if await _maybe_unplug_for(phone, argv):
        return
    size = _streamed_install_argv(argv) if not v2 else None
    if size is not None:
        await streamed_install(phone, stream, argv, size, v2=False)
        return
    result = phone.shell.run(command)
    if v2:
        if result.out:
            await stream.send(P.shell_packet(P.SHELL_STDOUT, result.out.encode()))
        if result.err:
            await stream.send(P.shell_packet(P.SHELL_STDERR, result.err.encode()))
        await stream.send(P.shell_packet(P.SHELL_EXIT, bytes([result.code & 0xFF])))
    else:
        await stream.send(result.combined.encode())


async def interactive_shell(phone: SimPhone, stream: Stream, v2: bool, *, pty: bool) -> None:
    """``adb shell`` with no command: one command per line, ``exit`` ends. With a pty (a
    terminal on the host) mksh prints its ``device:/ $`` prompt; piped (``raw``) it does not."""
    prompt = f"{phone.profile.device}:/ $ " if pty else ""

    async def out(text: str) -> None:
        data = text.encode()
        await stream.send(P.shell_packet(P.SHELL_STDOUT, data) if v2 else data)

    if prompt:
        await out(prompt)
    pending = b""
    while True:
        chunk = await stream.recv()
        if chunk is None:
            return
        if v2:
            payload = b""
            while len(chunk) >= 5:
                pid, length = P.SHELL_HEADER.unpack(chunk[:5])
                if pid == P.SHELL_STDIN:
                    payload += chunk[5 : 5 + length]
                elif pid == P.SHELL_CLOSE_STDIN:
                    payload += b"exit\n"
                chunk = chunk[5 + length :]
            chunk = payload
        pending += chunk
        while b"\n" in pending or b"\r" in pending:
            line, _, pending = pending.replace(b"\r", b"\n").partition(b"\n")
            text = line.decode("utf-8", "replace").strip()
            if text == "exit" or text.startswith("exit "):
                code = int(text.split()[1]) if " " in text else 0
                if v2:
                    await stream.send(P.shell_packet(P.SHELL_EXIT, bytes([code & 0xFF])))
                return
            if text:
                result = phone.shell.run(text)
                await out(result.combined)
            if prompt:
                await out(prompt)


async def exec_service(phone: SimPhone, stream: Stream, name: str) -> None:
    command = name[len("exec:") :]
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    if await _maybe_unplug_for(phone, argv):
        return
    size = _streamed_install_argv(argv)
    if size is not None:
        await streamed_install(phone, stream, argv, size, v2=False)
        return
    result = phone.shell.run(command)
    await stream.send(result.combined.encode())  # no shell protocol: stderr joins stdout


async def abb_exec_service(phone: SimPhone, stream: Stream, name: str) -> None:
    """``abb_exec:SERVICE\\0ARG\\0...``: Android Binder Bridge, raw output (Android 9+)."""
    args = name[len("abb_exec:") :].split("\0")
    argv = ["cmd", *args]
    if await _maybe_unplug_for(phone, argv[1:2]):
        return
    size = _streamed_install_argv(argv)
    if size is not None:
        await streamed_install(phone, stream, argv, size, v2=False)
        return
    result = phone.shell.run_argv(argv)
    await stream.send(result.combined.encode())


async def streamed_install(phone: SimPhone, stream: Stream, argv: list[str], size: int, *,
                           v2: bool) -> None:  # fmt: skip
    """Read ``size`` APK bytes from the host, install, answer ``Success`` or ``Failure [...]``."""
    disk = phone.fs.new_disk_file()
    stream.throttle = True
    fault_at = size // 2 if phone.step_fault("install") else None
    received = 0
    with open(disk, "wb") as fh:
        while received < size:
            chunk = await stream.recv()
            if chunk is None:
                disk.unlink(missing_ok=True)
                return
            fh.write(chunk)
            received += len(chunk)
            if fault_at is not None and received >= fault_at:
                disk.unlink(missing_ok=True)
                phone.trigger_unplug("during install")
                return
    flags = [a for a in argv[3:] if a.startswith("-")]
    result = await phone.install_file_async(disk, flags, keep_file=True)
    disk.unlink(missing_ok=True)
    await stream.send((result + "\n").encode())


async def reboot_service(phone: SimPhone, stream: Stream, name: str) -> None:
    if phone.step_fault("reboot"):
        phone.trigger_unplug("during reboot")
        return
    phone.schedule_reboot()


async def root_service(phone: SimPhone, stream: Stream, name: str) -> None:
    await stream.send(b"adbd cannot run as root in production builds\n")


# -- sync ---------------------------------------------------------------------------------------
def _stat_v1(phone: SimPhone, path: str) -> bytes:
    fs = phone.fs
    if fs.is_dir(path):
        return P.SYNC_STAT_V1.pack(P.ID_LSTAT_V1, P.S_IFDIR | 0o771, 4096, fs.dirs[fs.norm(path)])
    f = fs.get(path)
    if f is None:
        return P.SYNC_STAT_V1.pack(P.ID_LSTAT_V1, 0, 0, 0)
    return P.SYNC_STAT_V1.pack(P.ID_LSTAT_V1, f.mode, f.size & 0xFFFFFFFF, f.mtime)


def _stat_v2(phone: SimPhone, path: str, ident: bytes) -> bytes:
    fs = phone.fs
    if fs.is_dir(path):
        t = fs.dirs[fs.norm(path)]
        return P.SYNC_STAT_V2.pack(ident, 0, 0xFD00, 1, P.S_IFDIR | 0o771, 2, 2000, 2000,
                                   4096, t, t, t)  # fmt: skip
    f = fs.get(path)
    if f is None:
        return P.SYNC_STAT_V2.pack(ident, P.ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return P.SYNC_STAT_V2.pack(ident, 0, 0xFD00, hash(path) & 0xFFFFFF, f.mode, 1, 2000, 2000,
                               f.size, f.mtime, f.mtime, f.mtime)  # fmt: skip


async def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    await stream.send(P.ID_FAIL + struct.pack("<I", len(data)) + data)


async def sync_service(phone: SimPhone, stream: Stream, name: str) -> None:
    while True:
        try:
            ident, length = P.SYNC_REQUEST.unpack(await stream.read_exact(8))
        except StreamClosed:
            return
        if ident == P.ID_QUIT:
            return
        arg = (await stream.read_exact(length)).decode("utf-8", "replace")
        if ident == P.ID_LSTAT_V1:
            await stream.send(_stat_v1(phone, arg))
        elif ident in (P.ID_STAT_V2, P.ID_LSTAT_V2):
            await stream.send(_stat_v2(phone, arg, ident))
        elif ident in (P.ID_LIST_V1, P.ID_LIST_V2):
            await _sync_list(phone, stream, arg, v2=ident == P.ID_LIST_V2)
        elif ident == P.ID_SEND_V1:
            if not await _sync_send(phone, stream, arg):
                return
        elif ident == P.ID_RECV_V1:
            if not await _sync_recv(phone, stream, arg):
                return
        else:
            await _fail(stream, f"unknown sync command {ident!r}")
            return


async def _sync_list(phone: SimPhone, stream: Stream, path: str, *, v2: bool) -> None:
    fs = phone.fs
    base = fs.norm(path).rstrip("/")
    out = b""
    if fs.is_dir(path):
        for name in [".", "..", *fs.listdir(path)]:
            full = f"{base}/{name}"
            encoded = name.encode()
            if v2:
                st = _stat_v2(phone, full if name not in (".", "..") else base, P.ID_DENT_V2)
                fields = P.SYNC_STAT_V2.unpack(st)
                out += P.SYNC_DENT_V2.pack(*fields, len(encoded)) + encoded
            else:
                ident, mode, size, mtime = P.SYNC_STAT_V1.unpack(
                    _stat_v1(phone, full if name not in (".", "..") else base)
                )
                out += P.SYNC_DENT_V1.pack(P.ID_DENT_V1, mode, size, mtime, len(encoded)) + encoded
    if v2:
        out += P.SYNC_DENT_V2.pack(P.ID_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    else:
        out += P.SYNC_DENT_V1.pack(P.ID_DONE, 0, 0, 0, 0)
    await stream.send(out)


async def _sync_send(phone: SimPhone, stream: Stream, arg: str) -> bool:
    path, _, mode_text = arg.rpartition(",")
    if not path:
        path, mode_text = arg, "33188"
    mode = int(mode_text) if mode_text.isdigit() else 0o100644
    fs = phone.fs
    disk = fs.new_disk_file()
    stream.throttle = True
    fault = phone.step_fault("push")
    received = 0
    free = phone.free_kb() * 1024
    ok = True
    with open(disk, "wb") as fh:
        while True:
            ident, length = P.SYNC_REQUEST.unpack(await stream.read_exact(8))
            if ident == P.ID_DATA:
                data = await stream.read_exact(length)
                received += len(data)
                if received > free:
                    ok = False
                else:
                    fh.write(data)
                if fault and received >= PUSH_FAULT_BYTES:
                    disk.unlink(missing_ok=True)
                    phone.trigger_unplug("during push")
                    return False
            elif ident == P.ID_DONE:
                mtime = length
                break
            else:
                disk.unlink(missing_ok=True)
                await _fail(stream, "invalid data message")
                return False
    stream.throttle = False
    if fault:
        disk.unlink(missing_ok=True)
        phone.trigger_unplug("during push")
        return False
    if not ok:
        disk.unlink(missing_ok=True)
        await _fail(stream, f"write failed for {path}: No space left on device")
        return True
    if fs.is_dir(path):
        disk.unlink(missing_ok=True)
        await _fail(stream, "couldn't create file: Is a directory")
        return True
    fs.add_file(path, disk, mtime=mtime or int(time.time()), mode=P.S_IFREG | (mode & 0o7777))
    await stream.send(P.ID_OKAY + struct.pack("<I", 0))
    return True


async def _sync_recv(phone: SimPhone, stream: Stream, path: str) -> bool:
    f = phone.fs.get(path)
    if f is None:
        text = phone.read_text(path)
        if text is None:
            await _fail(stream, "No such file or directory")
            return True
        chunks = [text.encode()]
        payload_iter = iter(chunks)
    else:
        payload_iter = _file_chunks(f.disk)
    if phone.step_fault("pull"):
        phone.trigger_unplug("during pull")
        return False
    for data in payload_iter:
        await stream.conn.pace(len(data))
        await stream.send(P.ID_DATA + struct.pack("<I", len(data)) + data)
    await stream.send(P.ID_DONE + struct.pack("<I", 0))
    return True


def _file_chunks(disk):
    with open(disk, "rb") as fh:
        while True:
            data = fh.read(P.SYNC_DATA_MAX)
            if not data:
                return
            yield data
