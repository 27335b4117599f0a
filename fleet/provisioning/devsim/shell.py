"""A small ``/system/bin/sh`` for simulated phones: the commands provisioning and health pulls
run, with the output, stderr and exit status a real phone of that Android version gives.

Command lines are split with :mod:`shlex` (POSIX rules, like mksh/toybox for the quoting adb
clients send); ``;``, ``&&``, ``||`` and simple pipes into ``grep``/``head``/``wc -l`` work.
Unknown commands answer ``/system/bin/sh: NAME: inaccessible or not found`` with status 127,
as mksh does on Android.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import outputs
from .packages import InstallError, failure_line, parse_apk

if TYPE_CHECKING:  # pragma: no cover
    from .phone import SimPhone


@dataclass
class Result:
    """Output of one command: stdout and stderr text, exit status (0-255)."""

    out: str = ""
    err: str = ""
    code: int = 0
    mixed: str | None = None  # stdout and stderr in the order written (shell v1 sees this)

    @property
    def combined(self) -> str:
        return self.mixed if self.mixed is not None else self.out + self.err


_OPS = {";", "&&", "||", "|"}


def split_commands(line: str) -> list[tuple[str, list[str]]]:
    """Split a command line into ``[(operator_before, argv), ...]``; raises ``ValueError`` on
    unbalanced quotes."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = ""
    result: list[tuple[str, list[str]]] = []
    op = ";"
    argv: list[str] = []
    for tok in lexer:
        if tok in _OPS:
            if argv:
                result.append((op, argv))
            op, argv = tok, []
        else:
            argv.append(tok)
    if argv:
        result.append((op, argv))
    return result


class Shell:
    """Runs command lines against one phone's state."""

    def __init__(self, phone: SimPhone):
        self.phone = phone

    # -- entry point ---------------------------------------------------------------------------
    def run(self, line: str, stdin: bytes = b"") -> Result:
        """Run ``line`` and return its combined :class:`Result` (never raises)."""
        try:
            parts = split_commands(line)
        except ValueError:
            return Result(err="/system/bin/sh: syntax error: unterminated quoted string\n", code=1)
        pieces: list[Result] = []
        last = Result()
        piped: str | None = None
        for op, argv in parts:
            if op == "&&" and last.code != 0:
                continue
            if op == "||" and last.code == 0:
                continue
            piped = None
            if op == "|":
                piped = last.out
                if pieces:
                    pieces[-1] = Result(err=pieces[-1].err, code=pieces[-1].code)
            argv = [a.replace("$?", str(last.code)) for a in argv]
            last = self.run_argv(argv, piped)
            pieces.append(last)
        return Result(
            out="".join(r.out for r in pieces),
            err="".join(r.err for r in pieces),
            code=last.code,
            mixed="".join(r.out + r.err for r in pieces),
        )

    def run_argv(self, argv: list[str], piped: str | None = None) -> Result:
        """Run one simple command."""
        name = argv[0]
        handler = getattr(self, "cmd_" + name.replace("-", "_").replace("/", "_"), None)
        if name.startswith("/system/bin/"):
            return self.run_argv([name.rsplit("/", 1)[1], *argv[1:]], piped)
        if handler is None:
            return Result(err=f"/system/bin/sh: {name}: inaccessible or not found\n", code=127)
        try:
            return handler(argv[1:], piped)
        except IndexError:
            return Result(err=f"{name}: Needs more arguments\n", code=1)

    # -- shell builtins and toybox ---------------------------------------------------------
    def cmd_echo(self, args, piped):
        return Result(out=" ".join(args) + "\n")

    def cmd_true(self, args, piped):
        return Result()

    def cmd_false(self, args, piped):
        return Result(code=1)

    def cmd_exit(self, args, piped):
        return Result(code=int(args[0]) & 0xFF if args else 0)

    def cmd_sleep(self, args, piped):
        return Result()

    def cmd_sh(self, args, piped):
        if len(args) >= 2 and args[0] == "-c":
            return self.run(args[1])
        return Result()

    def cmd_id(self, args, piped):
        return Result(
            out="uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),"
            "1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),"
            "3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0\n"
        )

    def cmd_whoami(self, args, piped):
        return Result(out="shell\n")

    def cmd_su(self, args, piped):
        if not self.phone.profile.rooted:
            return Result(err="/system/bin/sh: su: inaccessible or not found\n", code=127)
        if len(args) >= 2 and args[0] == "-c":
            if args[1].strip() == "id":
                return Result(out="uid=0(root) gid=0(root) groups=0(root) context=u:r:su:s0\n")
            return self.run(args[1])
        return Result()

    def cmd_which(self, args, piped):
        out = ""
        code = 0
        for name in args:
            if name == "su":
                if self.phone.profile.rooted:
                    out += "/system/xbin/su\n"
                else:
                    code = 1
            elif hasattr(self, "cmd_" + name):
                out += f"/system/bin/{name}\n"
            else:
                code = 1
        return Result(out=out, code=code)

    def cmd_grep(self, args, piped):
        flags = [a for a in args if a.startswith("-")]
        rest = [a for a in args if not a.startswith("-")]
        pattern = rest[0] if rest else ""
        text = piped if piped is not None else self._read_files(rest[1:])
        regex = re.compile(pattern, re.IGNORECASE if "-i" in flags else 0)
        invert = "-v" in flags
        lines = [ln for ln in text.splitlines() if bool(regex.search(ln)) != invert]
        if "-c" in flags:
            return Result(out=f"{len(lines)}\n", code=0 if lines else 1)
        return Result(out="".join(ln + "\n" for ln in lines), code=0 if lines else 1)

    def cmd_head(self, args, piped):
        n = 10
        if args and args[0].startswith("-n"):
            n = int(args[0][2:] or args[1])
        elif args and args[0].startswith("-") and args[0][1:].isdigit():
            n = int(args[0][1:])
        text = piped or ""
        return Result(out="".join(ln + "\n" for ln in text.splitlines()[:n]))

    def cmd_wc(self, args, piped):
        return Result(out=f"{len((piped or '').splitlines())}\n")

    def _read_files(self, paths):
        return "".join(self.cmd_cat([p], None).out for p in paths)

    def cmd_cat(self, args, piped):
        out = ""
        for path in args:
            text = self.phone.read_text(path)
            if text is None:
                return Result(out=out, err=f"cat: {path}: No such file or directory\n", code=1)
            out += text
        return Result(out=out if args else (piped or ""))

    def cmd_ls(self, args, piped):
        paths = [a for a in args if not a.startswith("-")] or ["/"]
        out, err, code = "", "", 0
        for path in paths:
            fs = self.phone.fs
            if fs.is_dir(path):
                out += "".join(name + "\n" for name in sorted(fs.listdir(path)))
            elif fs.exists(path):
                out += path + "\n"
            else:
                err += f"ls: {path}: No such file or directory\n"
                code = 1
        return Result(out=out, err=err, code=code)

    def cmd_rm(self, args, piped):
        force = any(a.startswith("-") and "f" in a for a in args)
        err, code = "", 0
        for path in (a for a in args if not a.startswith("-")):
            if not self.phone.fs.remove(path) and not force:
                err += f"rm: {path}: No such file or directory\n"
                code = 1
        return Result(err=err, code=code)

    def cmd_mkdir(self, args, piped):
        for path in (a for a in args if not a.startswith("-")):
            self.phone.fs.mkdirs(path)
        return Result()

    def cmd_touch(self, args, piped):
        for path in args:
            if not self.phone.fs.exists(path):
                self.phone.fs.write_bytes(path, b"")
        return Result()

    def cmd_df(self, args, piped):
        human = "-h" in args
        paths = [a for a in args if not a.startswith("-")]
        text = outputs.render_df(
            self.phone.profile, self.phone.free_kb(), human=human, all_mounts=not paths
        )
        return Result(out=text)

    def cmd_uptime(self, args, piped):
        return Result(out=outputs.render_uptime(self.phone.uptime_s()))

    def cmd_getprop(self, args, piped):
        props = self.phone.props
        if not args:
            return Result(out=outputs.render_getprop(props))
        default = args[1] if len(args) > 1 else ""
        return Result(out=props.get(args[0], default) + "\n")

    def cmd_setprop(self, args, piped):
        key, value = args[0], args[1]
        if key.startswith("ro.") and key in self.phone.props:
            return Result(err=f"Failed to set property '{key}' to '{value}'.\n", code=1)
        self.phone.props[key] = value
        return Result()

    def cmd_wm(self, args, piped):
        if args and args[0] == "size":
            return Result(out="Physical size: 720x1600\n")
        if args and args[0] == "density":
            return Result(out="Physical density: 320\n")
        return Result()

    def cmd_input(self, args, piped):
        return Result()

    def cmd_am(self, args, piped):
        if args and args[0] == "start":
            comp = args[args.index("-n") + 1] if "-n" in args else ""
            return Result(out=f"Starting: Intent {{ cmp={comp} }}\n")
        return Result()

    def cmd_monkey(self, args, piped):
        return Result(out="Events injected: 1\n## Network stats: elapsed time=12ms\n")

    def cmd_reboot(self, args, piped):
        self.phone.schedule_reboot()
        return Result()

    # -- framework services -------------------------------------------------------------------
    def cmd_dumpsys(self, args, piped):
        if not args:
            return Result(out="Currently running services:\n  battery\n  meminfo\n  package\n")
        service = args[0]
        phone = self.phone
        if service == "battery":
            return Result(out=outputs.render_battery(phone.profile, phone.profile.api_level))
        if service == "package" and len(args) > 1:
            pkg = phone.pm.packages.get(args[1])
            if pkg is None:
                return Result(out="Dexopt state:\n  Unable to find package: " + args[1] + "\n")
            return Result(
                out=outputs.render_dumpsys_package(pkg, phone.profile.api_level, phone.uid(pkg))
            )
        if service == "meminfo":
            name = args[-1] if len(args) > 1 else None
            if name is None:
                v = outputs.meminfo_values(phone.profile)
                return Result(out=f"Total RAM: {v['MemTotal']:,}K (status normal)\n")
            pss = phone.profile.app_memory_kb.get(name)
            if pss is None or name not in phone.pm.packages:
                return Result(out=f"No process found for: {name}\n")
            pid = 10000 + sum(name.encode()) % 20000
            return Result(
                out=outputs.render_app_meminfo(name, pss, pid, int(phone.uptime_s() * 1000))
            )
        if service in ("iphonesubinfo",):
            return Result()
        return Result(out=f"Can't find service: {service}\n")

    def cmd_service(self, args, piped):
        if args[:2] == ["call", "iphonesubinfo"]:
            code = int(args[2])
            p = self.phone.profile
            iccid_code = 12 if p.api_level >= 29 else 11
            if code == 1:
                value: str | None = p.imei
            elif code == iccid_code:
                value = p.iccid
            else:
                value = None
            return Result(out=outputs.parcel_text(outputs.parcel_string16(value)))
        if args[:1] == ["list"]:
            return Result(
                out="Found 3 services:\n0\tbattery: []\n1\tpackage: []\n"
                "2\tiphonesubinfo: [com.android.internal.telephony.IPhoneSubInfo]\n"
            )
        return Result(out="Result: Parcel(00000000    '....')\n")

    def cmd_content(self, args, piped):
        if "content://telephony/siminfo" in args and args[:1] == ["query"]:
            iccid = self.phone.profile.iccid
            if not iccid:
                return Result(out="No result found.\n")
            return Result(out=f"Row: 0 _id=1, icc_id={iccid}, sim_id=0\n")
        return Result(out="No result found.\n")

    def cmd_settings(self, args, piped):
        verb = args[0]
        store = self.phone.settings
        if verb in ("get", "put", "delete", "list"):
            rest = [a for a in args[1:] if not a.startswith("--")]
            if "--user" in args:
                rest = [a for a in rest if a != args[args.index("--user") + 1]]
            ns = rest[0]
            if ns not in store:
                return Result(err=f"Invalid namespace '{ns}'\n", code=255)
            if verb == "get":
                value = store[ns].get(rest[1])
                return Result(out=("null" if value is None else value) + "\n")
            if verb == "put":
                store[ns][rest[1]] = rest[2]
                return Result()
            if verb == "delete":
                existed = store[ns].pop(rest[1], None) is not None
                return Result(out=f"Deleted {int(existed)} rows\n")
            return Result(out="".join(f"{k}={v}\n" for k, v in sorted(store[ns].items())))
        return Result(err=f"Invalid command: {verb}\n", code=255)

    def cmd_locksettings(self, args, piped):
        """``locksettings`` as LockSettingsShellCommand: the current credential must be given
        with ``--old`` whenever one is set; failures return -1 (exit status 255)."""
        phone = self.phone
        old = None
        rest = []
        i = 0
        while i < len(args):
            if args[i] == "--old":
                old = args[i + 1]
                i += 2
            elif args[i] == "--user":
                i += 2
            else:
                rest.append(args[i])
                i += 1
        if not rest:
            return Result(out="locksettings service commands:\n  set-pin [--old OLD] NEW\n")
        cmd = rest[0]
        if cmd == "get-disabled":
            return Result(out=f"{str(phone.lock_disabled).lower()}\n")
        if phone.lock_pin is not None:
            if old != phone.lock_pin:
                return Result(out=f"Old password '{old or ''}' didn't match\n", code=255)
        elif old:
            return Result(out="Old password provided but user has no password\n", code=255)
        if cmd == "set-pin":
            phone.lock_pin = rest[1]
            return Result(out=f"Pin set to '{rest[1]}'\n")
        if cmd == "clear":
            phone.lock_pin = None
            return Result(out="Lock credential cleared\n")
        if cmd == "verify":
            return Result(out="Lock credential verified successfully\n")
        if cmd == "set-disabled":
            phone.lock_disabled = rest[1] == "true"
            return Result(out=f"Lock screen disabled set to {rest[1]}\n")
        return Result(err=f"Unknown command: {cmd}\n", code=255)

    def cmd_cmd(self, args, piped):
        if args and args[0] == "package":
            return self.cmd_pm(args[1:], piped)
        if args and args[0] in ("settings", "locksettings", "battery"):
            return self.run_argv(args, piped)
        return Result(err=f"cmd: Can't find service: {args[0] if args else ''}\n", code=20)

    def cmd_pm(self, args, piped):
        if not args:
            return Result(err="usage: pm path [--user USER_ID] PACKAGE\n", code=1)
        verb = args[0]
        rest = args[1:]
        handler = getattr(self, "pm_" + verb.replace("-", "_"), None)
        if handler is None:
            return Result(err=f"Unknown command: {verb}\n", code=255)
        return handler(rest)

    def pm_list(self, rest):
        if not rest or rest[0] != "packages":
            return Result(err="Error: unknown list type\n", code=255)
        opts = [a for a in rest[1:] if a.startswith("-")]
        filters = [a for a in rest[1:] if not a.startswith("-") and not a.isdigit()]
        pkgs = [p for p in self.phone.pm.packages.values() if not filters or filters[0] in p.name]
        if "-d" in opts:
            pkgs = [p for p in pkgs if p.name in self.phone.disabled_packages]
        return Result(
            out=outputs.render_pm_list(
                pkgs,
                show_versioncode="--show-versioncode" in opts,
                with_path="-f" in opts,
                third_party="-3" in opts,
            )
        )

    def pm_path(self, rest):
        name = [a for a in rest if not a.startswith("-")][-1]
        pkg = self.phone.pm.packages.get(name)
        if pkg is None:
            return Result(code=1)
        return Result(out=f"package:{pkg.code_path}/base.apk\n")

    def pm_dump(self, rest):
        return self.cmd_dumpsys(["package", rest[0]], None)

    def pm_install(self, rest):
        path = rest[-1] if rest else ""
        flags = rest[:-1]
        if not self.phone.fs.exists(path):
            return Result(
                out="Failure [INSTALL_FAILED_INVALID_URI]\n"
                if self.phone.profile.api_level < 29
                else "",
                err=f"Error: Unable to open file: {path}\nConsider using a file under "
                "/data/local/tmp/\n"
                if self.phone.profile.api_level >= 29
                else "",
                code=1,
            )
        disk = self.phone.fs.disk_path(path)
        out = self.phone.install_file(disk, flags, keep_file=False)
        return Result(out=out + "\n", code=0 if out == "Success" else 1)

    def pm_uninstall(self, rest):
        name = [a for a in rest if not a.startswith("-")][-1]
        pkg = self.phone.pm.uninstall(name)
        if pkg is None:
            if self.phone.profile.api_level >= 29:
                return Result(out="Failure [DELETE_FAILED_INTERNAL_ERROR]\n", code=1)
            return Result(out="Failure [DELETE_FAILED_INTERNAL_ERROR]\n", code=1)
        self.phone.release_package_files(pkg)
        return Result(out="Success\n")

    def _perm_args(self, rest):
        rest = [a for a in rest if a != "--user" and not a.isdigit()]
        return rest[0], rest[1]

    def pm_grant(self, rest):
        name, perm = self._perm_args(rest)
        pkg = self.phone.pm.packages.get(name)
        if pkg is None:
            return Result(
                err=f"Exception occurred while executing 'grant':\n"
                f"java.lang.IllegalArgumentException: Unknown package: {name}\n",
                code=255,
            )
        if perm not in pkg.permissions:
            return Result(
                err=f"Exception occurred while executing 'grant':\n"
                f"java.lang.SecurityException: Package {name} has not requested permission "
                f"{perm}\n",
                code=255,
            )
        pkg.granted.add(perm)
        return Result()

    def pm_revoke(self, rest):
        name, perm = self._perm_args(rest)
        pkg = self.phone.pm.packages.get(name)
        if pkg is not None:
            pkg.granted.discard(perm)
        return Result()

    def pm_disable_user(self, rest):
        name = [a for a in rest if not a.startswith("-") and not a.isdigit()][-1]
        if name not in self.phone.pm.packages:
            return Result(
                err=f"Exception occurred while executing 'disable-user':\n"
                f"java.lang.IllegalArgumentException: Unknown package: {name}\n",
                code=255,
            )
        self.phone.disabled_packages.add(name)
        return Result(out=f"Package {name} new state: disabled-user\n")

    def pm_enable(self, rest):
        name = [a for a in rest if not a.startswith("-") and not a.isdigit()][-1]
        self.phone.disabled_packages.discard(name)
        return Result(out=f"Package {name} new state: enabled\n")


def apk_info_for(path):
    """Parse an APK for the shell (kept here so shell users need not import packages)."""
    return parse_apk(path)


__all__ = ["Result", "Shell", "split_commands", "InstallError", "failure_line"]
