#!/usr/bin/python3
# sandbox-wrapper.py: run a command (bursard) under the restrictions of
# systemd/bursar.service.in, as far as an unprivileged-or-root process can
# apply them without a systemd user manager. For $BURSAR_DAEMON_WRAPPER:
#
#   BURSAR_DAEMON_WRAPPER="tests/sandbox-wrapper.py --unit systemd/bursar.service.in"
#
# Why not `systemd-run --user -p …`: CI runs as root in a container with no
# user manager ("Failed to connect to bus: No medium found"), so the unit's
# [Service] section is read here and each directive applied by hand, the way
# systemd 252 does it for a user unit: a user namespace first (PrivateUsers),
# then a mount namespace owned by it, then the per-process settings and a
# seccomp filter (python3-seccomp, i.e. libseccomp, as systemd uses), then
# execve(). Everything happens in this process and ends in execve(), never
# fork(): the pid the test harness sees owning org.bursar.Bursar1 is the
# wrapper's pid, and kill -9 of it kills bursard itself.
#
# Emulated (directive: how)
#   PrivateUsers=yes       unshare(CLONE_NEWUSER); uid/gid mapped to themselves
#   ProtectSystem=strict   the whole tree rebound read-only (mount_setattr)
#   ProtectHome=read-only  /home, /root, /run/user read-only (part of the above)
#   ReadWritePaths=        bound back writable; "-" = skipped when missing
#   ConfigurationDirectory= created under $XDG_CONFIG_HOME (%E) with
#                          ConfigurationDirectoryMode, then writable
#   PrivateTmp=yes         fresh tmpfs on /tmp and /var/tmp
#   PrivateDevices=yes     tmpfs /dev with null zero full random urandom tty,
#                          new devpts, shm, mqueue dirs (DevicePolicy=closed
#                          then holds by construction: no other node exists)
#   ProtectKernelTunables  /proc/sys, /sys and the other systemd paths read-only
#   ProtectKernelModules   /lib/modules, /usr/lib/modules inaccessible; the
#                          module syscalls are outside the syscall allow-list
#   ProtectKernelLogs      /proc/kmsg inaccessible, no /dev/kmsg
#   ProtectControlGroups   /sys/fs/cgroup read-only (part of the above)
#   ProtectClock           clock syscalls outside the allow-list, no rtc node
#   ProtectHostname        new UTS namespace
#   ProtectProc, ProcSubset  a new procfs with hidepid=invisible,subset=pid is
#                          tried; inside a user namespace that does not own
#                          the pid namespace the kernel refuses it, and systemd
#                          then keeps the existing /proc (mount_private_apivfs).
#                          So does this harness, saying so with --describe.
#   NoNewPrivileges=yes    prctl(PR_SET_NO_NEW_PRIVS)
#   CapabilityBoundingSet= bounding set emptied; AmbientCapabilities= cleared
#   UMask, LimitCORE       umask(), setrlimit(RLIMIT_CORE)
#   KeyringMode=private    a new anonymous session keyring
#   SystemCallFilter, SystemCallErrorNumber, SystemCallArchitectures=native,
#   RestrictAddressFamilies, RestrictNamespaces=yes, MemoryDenyWriteExecute,
#   RestrictRealtime, RestrictSUIDSGID, LockPersonality
#                          one seccomp allow-list built from
#                          `systemd-analyze syscall-filter`'s groups, with
#                          argument conditions as systemd adds them (socket
#                          families, namespace flags of clone/unshare, W+X
#                          mmap/mprotect, realtime policies, set-id modes,
#                          personality); clone3 gets ENOSYS, as from systemd.
#                          Differences: a refused address family gets the
#                          filter's errno (EPERM) instead of EAFNOSUPPORT, and
#                          sched_setattr is not inspected.
# Not emulated (directive: why)
#   Type, BusName, ExecStart, Restart, RestartSec: service-manager settings,
#                          not restrictions; the test harness starts bursard
#   RemoveIPC=yes          acts when the unit stops; nothing to do at start
# Any other directive in [Service] makes this script refuse to run (exit 2),
# so the harness cannot silently fall behind the unit.
#
# Test instrumentation only: $BURSAR_TEST_BROWSER_LOG (the test browser that
# bursard launches appends to it) is bound writable, and the test session's
# paths that the suite keeps under /tmp but a real session has outside it
# ($HOME, $XDG_RUNTIME_DIR, the bus socket, the build tree, $BURSAR_* paths,
# libfaketime's $FAKETIME_TIMESTAMP_FILE)
# are bound back read-only into the private /tmp, as /home and /run/user stay
# visible read-only to the real unit.
#
# Options: --unit FILE (required), --describe (print what is applied, then
# run the command), --verbose, --skip DIRECTIVE (leave one directive out, to
# bisect a failure; --skip PrivateUsers works only as root). Exit 2: unknown directive or value; exit 3:
# the machine cannot create the namespaces.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import ctypes
import errno
import os
import platform
import resource
import subprocess
import sys

PROG = "sandbox-wrapper"

# --- the unit ---------------------------------------------------------------

SERVICE_MANAGER_ONLY = {"Type", "BusName", "ExecStart", "Restart", "RestartSec"}
NOT_AT_START = {"RemoveIPC"}
BOOL_YES = {"yes", "true", "on", "1"}
BOOL_NO = {"no", "false", "off", "0"}


def die(code, message):
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.exit(code)


def parse_service(path):
    """[Service] of @path as a list of (key, value), in order."""
    out, section = [], None
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        die(2, f"cannot read the unit {path}: {e.strerror}")
    pending = ""
    for raw in lines:
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section != "[Service]":
            continue
        if "=" not in line:
            die(2, f"{path}: cannot parse '{line}'")
        key, value = line.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def specifiers(value):
    """Expands the user-unit specifiers this harness knows."""
    home = os.path.expanduser("~")
    table = {
        "E": os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
        "h": home,
        "t": os.environ.get("XDG_RUNTIME_DIR") or "",
        "%": "%",
    }
    out, i = "", 0
    while i < len(value):
        c = value[i]
        if c == "%" and i + 1 < len(value):
            spec = value[i + 1]
            if spec not in table or (spec == "t" and not table["t"]):
                die(2, f"unit specifier %{spec} is not known to this harness")
            out += table[spec]
            i += 2
        else:
            out += c
            i += 1
    return out


def yes_no(key, value):
    v = value.lower()
    if v in BOOL_YES:
        return True
    if v in BOOL_NO:
        return False
    die(2, f"{key}={value}: not a boolean")


class Plan:
    def __init__(self):
        self.private_users = False
        self.no_new_privs = False
        self.protect_system = "no"
        self.protect_home = "no"
        self.rw_paths = []        # (path, ignore_missing)
        self.config_dirs = []     # created under %E
        self.config_dir_mode = 0o755
        self.private_tmp = False
        self.private_devices = False
        self.kernel_tunables = False
        self.kernel_modules = False
        self.kernel_logs = False
        self.control_groups = False
        self.clock = False
        self.hostname = False
        self.protect_proc = "default"
        self.proc_subset = "all"
        self.families = None      # None = any
        self.restrict_namespaces = False
        self.realtime = False
        self.suid_sgid = False
        self.personality = False
        self.mdwe = False
        self.keyring_private = False
        self.native_only = False
        self.syscall_allow = None  # list of tokens, None = no filter
        self.syscall_deny = []
        self.syscall_errno = None
        self.capability_bset_empty = False
        self.ambient_empty = False
        self.umask = None
        self.limit_core = None
        self.device_policy = "auto"


def make_plan(unit, skip=()):
    p = Plan()
    for key, value in parse_service(unit):
        if key in SERVICE_MANAGER_ONLY or key in NOT_AT_START or key in skip:
            continue
        if key == "PrivateUsers":
            p.private_users = yes_no(key, value)
        elif key == "NoNewPrivileges":
            p.no_new_privs = yes_no(key, value)
        elif key == "ProtectSystem":
            v = value.lower()
            if v in BOOL_NO:
                v = "no"
            elif v not in ("strict",):
                die(2, f"ProtectSystem={value}: only strict and no are emulated")
            p.protect_system = v
        elif key == "ProtectHome":
            v = value.lower()
            if v in BOOL_NO:
                v = "no"
            elif v != "read-only":
                die(2, f"ProtectHome={value}: only read-only and no are emulated "
                       "(yes would hide /run/user and the session bus)")
            p.protect_home = v
        elif key == "ReadWritePaths":
            for item in value.split():
                ignore = item.startswith("-")
                path = specifiers(item.lstrip("-"))
                if not os.path.isabs(path):
                    die(2, f"ReadWritePaths: {item} is not absolute")
                p.rw_paths.append((os.path.normpath(path), ignore))
        elif key == "ConfigurationDirectory":
            for item in value.split():
                if item.startswith("/") or ".." in item.split("/") or ":" in item:
                    die(2, f"ConfigurationDirectory={item}: not emulated")
                p.config_dirs.append(item)
        elif key == "ConfigurationDirectoryMode":
            p.config_dir_mode = int(value, 8)
        elif key == "PrivateTmp":
            p.private_tmp = yes_no(key, value)
        elif key == "PrivateDevices":
            p.private_devices = yes_no(key, value)
        elif key == "ProtectKernelTunables":
            p.kernel_tunables = yes_no(key, value)
        elif key == "ProtectKernelModules":
            p.kernel_modules = yes_no(key, value)
        elif key == "ProtectKernelLogs":
            p.kernel_logs = yes_no(key, value)
        elif key == "ProtectControlGroups":
            p.control_groups = yes_no(key, value)
        elif key == "ProtectClock":
            p.clock = yes_no(key, value)
        elif key == "ProtectHostname":
            p.hostname = yes_no(key, value)
        elif key == "ProtectProc":
            if value not in ("default", "invisible", "noaccess", "ptraceable"):
                die(2, f"ProtectProc={value}: unknown")
            p.protect_proc = value
        elif key == "ProcSubset":
            if value not in ("all", "pid"):
                die(2, f"ProcSubset={value}: unknown")
            p.proc_subset = value
        elif key == "RestrictAddressFamilies":
            if value.startswith("~"):
                die(2, "RestrictAddressFamilies=~…: a deny-list is not emulated")
            p.families = value.split()
        elif key == "RestrictNamespaces":
            if value.lower() not in BOOL_YES | BOOL_NO:
                die(2, f"RestrictNamespaces={value}: only yes/no are emulated")
            p.restrict_namespaces = yes_no(key, value)
        elif key == "RestrictRealtime":
            p.realtime = yes_no(key, value)
        elif key == "RestrictSUIDSGID":
            p.suid_sgid = yes_no(key, value)
        elif key == "LockPersonality":
            p.personality = yes_no(key, value)
        elif key == "MemoryDenyWriteExecute":
            p.mdwe = yes_no(key, value)
        elif key == "KeyringMode":
            if value not in ("private", "inherit", "shared"):
                die(2, f"KeyringMode={value}: unknown")
            p.keyring_private = value == "private"
        elif key == "SystemCallArchitectures":
            if value != "native":
                die(2, f"SystemCallArchitectures={value}: only native is emulated")
            p.native_only = True
        elif key == "SystemCallFilter":
            tokens = value.split()
            if not tokens:
                p.syscall_allow, p.syscall_deny = None, []
            elif tokens[0].startswith("~"):
                tokens[0] = tokens[0][1:]
                if p.syscall_allow is None:
                    die(2, "SystemCallFilter=~… before an allow-list is not emulated")
                p.syscall_deny += tokens
            else:
                p.syscall_allow = (p.syscall_allow or []) + tokens
        elif key == "SystemCallErrorNumber":
            if not hasattr(errno, value):
                die(2, f"SystemCallErrorNumber={value}: unknown errno")
            p.syscall_errno = getattr(errno, value)
        elif key == "CapabilityBoundingSet":
            if value:
                die(2, "CapabilityBoundingSet with capabilities is not emulated")
            p.capability_bset_empty = True
        elif key == "AmbientCapabilities":
            if value:
                die(2, "AmbientCapabilities with capabilities is not emulated")
            p.ambient_empty = True
        elif key == "UMask":
            p.umask = int(value, 8)
        elif key == "LimitCORE":
            if value != "0":
                die(2, f"LimitCORE={value}: only 0 is emulated")
            p.limit_core = 0
        elif key == "DevicePolicy":
            if value not in ("closed", "auto"):
                die(2, f"DevicePolicy={value}: only closed/auto are emulated")
            if value == "closed" and not p.private_devices:
                pass  # checked below, once every directive is read
            p.device_policy = value
        else:
            die(2, f"{unit}: directive {key}= is not known to this harness; "
                   "emulate it in tests/sandbox-wrapper.py or list it as not emulated")
    if p.device_policy == "closed" and not p.private_devices:
        die(2, "DevicePolicy=closed without PrivateDevices=yes is not emulated")
    if (p.protect_system != "no" or p.private_tmp or p.private_devices) and not p.private_users \
            and not ("PrivateUsers" in skip and os.getuid() == 0):
        # systemd 252 user units cannot namespace the file system without it.
        die(2, "file-system sandboxing in a systemd 252 user unit needs PrivateUsers=yes")
    return p


# --- system calls -------------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

ARCH = platform.machine()
NR = {
    "x86_64": {"pivot_root": 155, "keyctl": 250, "mount_setattr": 442},
    "aarch64": {"pivot_root": 41, "keyctl": 219, "mount_setattr": 442},
}.get(ARCH)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWTIME = 0x00000080
NS_FLAGS = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
            CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1

PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
KEYCTL_JOIN_SESSION_KEYRING = 1


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def check(rc, what):
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return rc


def mount(src, tgt, fstype, flags, data=None):
    check(libc.mount(src.encode() if src else None, tgt.encode(),
                     fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                     data.encode() if data else None), f"mount {tgt}")


def bind(src, tgt, recursive=True):
    mount(src, tgt, None, MS_BIND | (MS_REC if recursive else 0))


def set_readonly(path, readonly=True, recursive=True):
    attr = MountAttr(MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    check(libc.syscall(NR["mount_setattr"], AT_FDCWD, path.encode(),
                       AT_RECURSIVE if recursive else 0, ctypes.byref(attr),
                       ctypes.sizeof(attr)), f"mount_setattr {path}")


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


# --- the sandbox --------------------------------------------------------------

PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp")
# ProtectKernelTunables= in systemd 252 (namespace.c protect_kernel_tunables_table).
TUNABLES = ("/proc/acpi", "/proc/apm", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
            "/proc/kallsyms", "/proc/kcore", "/proc/latency_stats", "/proc/mtrr",
            "/proc/scsi", "/proc/sys", "/proc/sysrq-trigger", "/proc/timer_list",
            "/proc/timer_stats", "/sys")
MODULE_DIRS = ("/lib/modules", "/usr/lib/modules")
KERNEL_LOGS = ("/proc/kmsg",)
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")


def under_private_tmp(path):
    return any(path == d or path.startswith(d + "/") for d in PRIVATE_TMP_DIRS)


def meson_build_root(path):
    d = os.path.dirname(path)
    while d != "/":
        if os.path.isdir(os.path.join(d, "meson-private")):
            return d
        d = os.path.dirname(d)
    return os.path.dirname(path)


def session_paths(exe):
    """Paths of the test session that must stay visible (read-only) through
    PrivateTmp, and writable files of the test instrumentation. Call it
    before setup_mounts(): its existence checks, realpath() and the search
    for meson-private must see the session's own tree, not the scratch root
    (where nothing of /tmp exists and every path would be dropped)."""
    ro = []
    for var in ("HOME", "XDG_RUNTIME_DIR"):
        if os.environ.get(var):
            ro.append(os.environ[var])
    addr = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    for part in addr.split(";"):
        for kv in part.split(":", 1)[-1].split(","):
            if kv.startswith("path="):
                ro.append(kv[5:])
    ro.append(meson_build_root(os.path.realpath(exe)))
    for var, value in os.environ.items():
        if (var.startswith("BURSAR_") or var in ("FAKETIME_TIMESTAMP_FILE", "LD_PRELOAD")) and var not in ("BURSAR_TEST_BROWSER_LOG",
                                                     "BURSAR_DAEMON_WRAPPER"):
            for item in value.split(":"):
                if os.path.isabs(item) and os.path.exists(item):
                    ro.append(item)
    rw = []
    log = os.environ.get("BURSAR_TEST_BROWSER_LOG")
    if log and os.path.isabs(log):
        rw.append(log)
    return [os.path.normpath(p) for p in ro], [os.path.normpath(p) for p in rw]


def make_target(new_root, path, like):
    """Creates @path (under @new_root) as a mount point of the kind of @like."""
    target = new_root + path
    if os.path.isdir(like):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            open(target, "w").close()
    return target


def setup_namespaces(plan, notes):
    uid, gid = os.getuid(), os.getgid()
    flags = 0
    if plan.private_users:
        flags |= CLONE_NEWUSER
    if plan.protect_system != "no" or plan.private_tmp or plan.private_devices:
        flags |= CLONE_NEWNS
    if plan.hostname:
        flags |= CLONE_NEWUTS
    if libc.unshare(flags) != 0:
        e = ctypes.get_errno()
        die(3, f"cannot create the namespaces of the unit (unshare: {os.strerror(e)}); "
               "this machine does not allow user namespaces "
               "(see /proc/sys/user/max_user_namespaces)")
    if plan.private_users:
        # As systemd 252 maps a user unit: the user to itself, nobody else.
        write_file("/proc/self/setgroups", "deny")
        write_file("/proc/self/uid_map", f"{uid} {uid} 1\n")
        write_file("/proc/self/gid_map", f"{gid} {gid} 1\n")
        notes.append(f"PrivateUsers: user namespace, uid {uid} and gid {gid} mapped to themselves")


def setup_mounts(plan, session, notes):
    if not (flags_mount(plan)):
        return
    cwd = os.getcwd()
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # A scratch root on tmpfs; the old root goes to /oldroot, with the
    # original /tmp visible again there.
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.mkdir("/tmp/oldroot")
    check(libc.syscall(NR["pivot_root"], b"/tmp", b"/tmp/oldroot"), "pivot_root")
    os.chdir("/")
    os.mkdir("/newroot")
    os.mkdir("/inaccessible", 0)
    open("/inaccessible-file", "w").close()
    os.chmod("/inaccessible-file", 0)
    new = "/newroot"
    bind("/oldroot", new)

    if plan.protect_system == "strict":
        set_readonly(new)
        notes.append("ProtectSystem=strict: the whole tree read-only")
    if plan.protect_home == "read-only":
        notes.append("ProtectHome=read-only: /home, /root, /run/user read-only")

    if plan.private_tmp:
        for d in PRIVATE_TMP_DIRS:
            if os.path.isdir(new + d):
                mount("tmpfs", new + d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        ro, rw = session
        for path in sorted(set(ro), key=len):
            if under_private_tmp(path) and os.path.exists("/oldroot" + path):
                target = make_target(new, path, "/oldroot" + path)
                bind("/oldroot" + path, target)
                set_readonly(target)
                notes.append(f"PrivateTmp: test session path {path} bound read-only")
        for path in rw:
            if under_private_tmp(path):
                if not os.path.exists("/oldroot" + path):
                    fd = os.open("/oldroot" + path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    os.close(fd)
                target = make_target(new, path, "/oldroot" + path)
                bind("/oldroot" + path, target)
                notes.append(f"test instrumentation {path} writable")
        notes.append("PrivateTmp: new tmpfs on /tmp and /var/tmp")

    if plan.private_devices:
        dev = new + "/dev"
        mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=0755")
        for node in DEV_NODES:
            if os.path.exists("/oldroot/dev/" + node):
                open(f"{dev}/{node}", "w").close()
                bind(f"/oldroot/dev/{node}", f"{dev}/{node}", recursive=False)
        for d in ("pts", "shm", "mqueue"):
            os.mkdir(f"{dev}/{d}", 0o755)
        mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        try:
            mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=620")
            os.symlink("pts/ptmx", dev + "/ptmx")
        except OSError:
            notes.append("PrivateDevices: no devpts instance (not allowed here)")
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"{dev}/{name}")
        set_readonly(dev, recursive=False)
        notes.append("PrivateDevices: /dev has " + " ".join(DEV_NODES) + ", pts, shm")

    proc = new + "/proc"
    if plan.protect_proc != "default" or plan.proc_subset != "all":
        opts = []
        if plan.protect_proc != "default":
            opts.append(f"hidepid={plan.protect_proc}")
        if plan.proc_subset == "pid":
            opts.append("subset=pid")
        try:
            mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ",".join(opts))
            notes.append(f"ProtectProc/ProcSubset: new procfs with {','.join(opts)}")
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EACCES):
                raise
            # As systemd does without the privilege: keep the existing /proc.
            notes.append("ProtectProc/ProcSubset: NOT effective: the kernel refuses a new "
                         "procfs in a user namespace that does not own the pid namespace; "
                         "the existing /proc is kept, as systemd does")
    if plan.protect_system == "strict":
        # /proc itself stays writable (e.g. /proc/self/*), as under systemd.
        try:
            set_readonly(proc, readonly=False, recursive=False)
        except OSError:
            pass

    def inaccessible(path):
        if os.path.isdir(path):
            bind("/inaccessible", path, recursive=False)
        elif os.path.exists(path):
            bind("/inaccessible-file", path, recursive=False)
        else:
            return
        set_readonly(path, recursive=False)

    if plan.kernel_tunables:
        for path in TUNABLES:
            if os.path.exists(new + path):
                bind(new + path, new + path)
                set_readonly(new + path)
        notes.append("ProtectKernelTunables: /proc/sys, /sys, … read-only")
    if plan.kernel_modules:
        for path in MODULE_DIRS:
            if os.path.isdir(new + path) and not os.path.islink(new + path):
                inaccessible(new + path)
        notes.append("ProtectKernelModules: module directories inaccessible")
    if plan.kernel_logs:
        for path in KERNEL_LOGS:
            inaccessible(new + path)
        notes.append("ProtectKernelLogs: /proc/kmsg inaccessible")
    if plan.control_groups:
        notes.append("ProtectControlGroups: /sys/fs/cgroup read-only")

    config_home = specifiers("%E")
    for d in plan.config_dirs:
        path = os.path.join(config_home, d)
        if not os.path.isdir("/oldroot" + path):
            os.makedirs("/oldroot" + path, mode=plan.config_dir_mode)
        os.chmod("/oldroot" + path, plan.config_dir_mode)
        plan.rw_paths.append((path, False))
        notes.append(f"ConfigurationDirectory: {path} (mode {plan.config_dir_mode:04o})")
    for path, ignore in plan.rw_paths:
        if not os.path.exists("/oldroot" + path):
            if ignore:
                notes.append(f"ReadWritePaths: -{path} missing, skipped (as systemd does)")
                continue
            die(2, f"ReadWritePaths: {path} does not exist")
        target = new + path
        if not os.path.exists(target):
            # Hidden by a tmpfs above (PrivateTmp): make the mount point.
            target = make_target(new, path, "/oldroot" + path)
        bind("/oldroot" + path, target)
        set_readonly(target, readonly=False)
        notes.append(f"ReadWritePaths: {path} writable")

    # Into the new root; the scratch root and /oldroot go away.
    os.chdir(new)
    check(libc.syscall(NR["pivot_root"], b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "umount old root")
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")


def flags_mount(plan):
    return plan.protect_system != "no" or plan.private_tmp or plan.private_devices


# --- seccomp ------------------------------------------------------------------

def syscall_groups():
    """systemd's own syscall groups (@name → members), from systemd-analyze."""
    # Without the test's preloads (libfaketime in test-clock).
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    try:
        # coreutils' timeout bounds the wait: Python's own would run on the
        # faked clock of this process.
        text = subprocess.run(["timeout", "30", "systemd-analyze", "syscall-filter", "--no-pager"],
                              capture_output=True, text=True, check=True, env=env).stdout
    except (OSError, subprocess.SubprocessError) as e:
        die(2, f"systemd-analyze syscall-filter failed ({e}); the SystemCallFilter= "
               "groups cannot be resolved")
    groups, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.split()[0], [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())
        elif not line.strip():
            cur = None
    return groups


def expand(tokens, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for t in tokens:
        if t.startswith("@"):
            if t not in groups:
                die(2, f"SystemCallFilter: unknown group {t}")
            if t in seen:
                continue
            seen.add(t)
            out |= expand(groups[t], groups, seen)
        else:
            out.add(t)
    return out


AF = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16,
      "AF_PACKET": 17, "AF_BLUETOOTH": 31, "AF_ALG": 38, "AF_VSOCK": 40}


def build_filter(plan, notes):
    try:
        import seccomp
    except ImportError:
        die(2, "python3-seccomp is missing: the unit's SystemCallFilter= cannot be "
               "emulated (apt-get install python3-seccomp)")
    S = seccomp
    err = plan.syscall_errno if plan.syscall_errno is not None else errno.EPERM
    default = S.ERRNO(err) if plan.syscall_allow is not None else S.ALLOW
    f = S.SyscallFilter(defaction=default)
    # Only the native architecture is in the filter; any other is killed
    # (libseccomp's bad-architecture action), as SystemCallArchitectures=native.
    groups = syscall_groups()
    if plan.syscall_allow is not None:
        allowed = expand(plan.syscall_allow, groups) - expand(plan.syscall_deny, groups)
    else:
        allowed = None

    def resolvable(name):
        # Names newer than libseccomp resolve to __NR_SCMP_ERROR (-1).
        try:
            return S.resolve_syscall(S.Arch.NATIVE, name) != -1
        except (ValueError, TypeError):
            return False

    def A(i, op, *v):
        return S.Arg(i, op, *v)

    # Conditional rules: syscall → list of argument conditions each of which
    # allows it (OR). Built from the per-feature directives.
    cond = {}
    if plan.families is not None:
        fams = set()
        for name in plan.families:
            if name not in AF:
                die(2, f"RestrictAddressFamilies: {name} is not known to this harness")
            fams.add(AF[name])
        cond["socket"] = [[A(0, S.EQ, fam)] for fam in sorted(fams)]
    if plan.restrict_namespaces:
        cond["unshare"] = [[A(0, S.MASKED_EQ, NS_FLAGS, 0)]]
        cond["clone"] = [[A(0, S.MASKED_EQ, NS_FLAGS, 0)]]
        cond["setns"] = []
    if plan.mdwe:
        W, X = 0x2, 0x4
        cond["mmap"] = [[A(2, S.MASKED_EQ, W | X, 0)], [A(2, S.MASKED_EQ, W | X, W)],
                        [A(2, S.MASKED_EQ, W | X, X)]]
        cond["mprotect"] = [[A(2, S.MASKED_EQ, X, 0)]]
        cond["pkey_mprotect"] = [[A(2, S.MASKED_EQ, X, 0)]]
        cond["shmat"] = [[A(2, S.MASKED_EQ, 0o100000, 0)]]  # SHM_EXEC
    if plan.realtime:
        # SCHED_OTHER, SCHED_BATCH, SCHED_IDLE; not FIFO, RR, DEADLINE.
        cond["sched_setscheduler"] = [[A(1, S.EQ, 0)], [A(1, S.EQ, 3)], [A(1, S.EQ, 5)]]
    if plan.suid_sgid:
        SETID = 0o6000
        # Creating a file (O_CREAT, or __O_TMPFILE) with a set-id mode.
        CREATING = 0o100 | 0o20000000
        cond["chmod"] = [[A(1, S.MASKED_EQ, SETID, 0)]]
        cond["fchmod"] = [[A(1, S.MASKED_EQ, SETID, 0)]]
        cond["fchmodat"] = [[A(2, S.MASKED_EQ, SETID, 0)]]
        cond["mkdir"] = [[A(1, S.MASKED_EQ, SETID, 0)]]
        cond["mkdirat"] = [[A(2, S.MASKED_EQ, SETID, 0)]]
        cond["mknod"] = [[A(1, S.MASKED_EQ, SETID, 0)]]
        cond["mknodat"] = [[A(2, S.MASKED_EQ, SETID, 0)]]
        cond["creat"] = [[A(1, S.MASKED_EQ, SETID, 0)]]
        cond["open"] = [[A(1, S.MASKED_EQ, CREATING, 0)], [A(2, S.MASKED_EQ, SETID, 0)]]
        cond["openat"] = [[A(2, S.MASKED_EQ, CREATING, 0)], [A(3, S.MASKED_EQ, SETID, 0)]]
    if plan.personality:
        cond["personality"] = [[A(0, S.EQ, 0)], [A(0, S.EQ, 0xFFFFFFFF)]]

    if allowed is None:
        die(2, "per-feature seccomp rules without SystemCallFilter= are not emulated")

    n = 0
    for name in sorted(allowed):
        if not resolvable(name):
            continue
        if name in cond:
            for conditions in cond[name]:
                f.add_rule(S.ALLOW, name, *conditions)
        else:
            f.add_rule(S.ALLOW, name)
        n += 1
    if plan.restrict_namespaces and resolvable("clone3"):
        # clone3's flags live in memory a filter cannot read: systemd answers
        # ENOSYS so that glibc falls back to clone.
        f.add_rule(S.ERRNO(errno.ENOSYS), "clone3")
    notes.append(f"SystemCallFilter: {n} system calls allowed, errno {err} for the rest; "
                 "conditions on " + " ".join(sorted(c for c in cond if c in allowed)))
    return f


# --- per-process settings -------------------------------------------------------

def drop_capabilities(plan, notes, last):
    if plan.capability_bset_empty:
        for cap in range(last + 1):
            check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "PR_CAPBSET_DROP")
        notes.append("CapabilityBoundingSet=: empty")
    if plan.ambient_empty:
        libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        notes.append("AmbientCapabilities=: none")


def main():
    args = sys.argv[1:]
    unit, describe, verbose, skip = None, False, False, []
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        if opt == "--unit" and args:
            unit = args.pop(0)
        elif opt == "--describe":
            describe = True
        elif opt == "--verbose":
            verbose = True
        elif opt == "--skip" and args:
            skip.append(args.pop(0))
        else:
            die(2, f"unknown option {opt}")
    if unit is None or not args:
        die(2, "usage: sandbox-wrapper.py --unit UNIT [--describe] [--verbose] COMMAND [ARG…]")
    if NR is None:
        die(3, f"architecture {ARCH} is not supported by this harness")

    plan = make_plan(unit, skip)
    notes = [f"SKIPPED on request: {d}" for d in skip]
    exe = args[0]
    if not os.path.isabs(exe):
        found = next((os.path.join(d, exe) for d in os.environ.get("PATH", "").split(":")
                      if os.access(os.path.join(d, exe), os.X_OK)), None)
        if found is None:
            die(2, f"{exe}: not found")
        exe = found

    # The filter is compiled before any namespace exists: systemd-analyze
    # runs as a child here, never inside the sandbox.
    filt = build_filter(plan, notes)
    cap_last = int(open("/proc/sys/kernel/cap_last_cap").read())
    # Resolved against the file system as the test session sees it, before
    # any namespace or pivot_root.
    session = session_paths(exe)
    setup_namespaces(plan, notes)
    try:
        setup_mounts(plan, session, notes)
    except OSError as e:
        die(3, f"cannot build the unit's file-system view: {e}")
    if plan.umask is not None:
        os.umask(plan.umask)
        notes.append(f"UMask={plan.umask:04o}")
    if plan.limit_core is not None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        notes.append("LimitCORE=0")
    if plan.keyring_private:
        check(libc.syscall(NR["keyctl"], KEYCTL_JOIN_SESSION_KEYRING, None), "keyctl")
        notes.append("KeyringMode=private: new session keyring")
    if plan.hostname:
        notes.append("ProtectHostname: new UTS namespace")
    drop_capabilities(plan, notes, cap_last)
    if plan.no_new_privs:
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
        notes.append("NoNewPrivileges=yes")
    notes.append("not emulated: RemoveIPC (acts at stop)")
    if describe or verbose:
        for line in notes:
            sys.stderr.write(f"{PROG}: {line}\n")
        sys.stderr.flush()
    # Last: once loaded, only the allow-list is left, execve included.
    filt.load()
    try:
        os.execv(exe, args)
    except OSError as e:
        die(127, f"cannot execute {exe}: {e.strerror}")


if __name__ == "__main__":
    main()
