"""The seccomp profile: deny by default (EPERM), allow a Docker-derived list of ordinary syscalls.

Left out on purpose (so they fail with EPERM): namespaces (unshare, setns, clone with namespace flags),
mount and friends, bpf, perf_event_open, keyctl/add_key/request_key, io_uring, ptrace and
process_vm_*, kcmp, userfaultfd, clock and time setting, kernel modules, reboot, swap, kexec, quotas,
syslog, open_by_handle_at, the new mount API, ``pidfd_getfd`` (it copies a file descriptor out of another
process), and inotify and POSIX message queues: the kernel counts both per user *up the chain of user
namespaces*, and a sandbox's namespace is created by root, so every bot's instances and queue bytes would count
against the host root's own (fs.inotify.max_user_instances is 128): one bot could take them all. ``clone3``
answers ENOSYS so glibc falls back to ``clone``, whose flags seccomp can inspect (it cannot look inside
clone3's struct).

Sockets are allowed only in the families a bot's Python may use: AF_UNIX, AF_INET and AF_INET6, and netlink
only as NETLINK_ROUTE (glibc reads interfaces and addresses through it: ``socket.if_nameindex()``,
``getaddrinfo`` with AI_ADDRCONFIG). Everything else (AF_VSOCK to the hypervisor, AF_PACKET, AF_ALG and the
kernel crypto API, AF_KEY, the other netlink families: audit, uevents, sock_diag, ...) is refused with EPERM
when the socket is created; ``socketcall``, the 32-bit multiplexer that would hide the family, is refused.
"""

from __future__ import annotations

import errno
import platform
from typing import Any

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
CLONE_NAMESPACE_FLAGS = 0x7E020000

_ALLOWED = """
accept accept4 access alarm arch_prctl bind brk cachestat capget capset chdir chmod chown chown32
clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64
close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl
epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat fchmodat2 fchown
fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat
fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat get_mempolicy get_robust_list get_thread_area getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid getuid32
getxattr io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl
ioprio_get ioprio_set kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mmap2 mprotect mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2
pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list set_thread_area set_tid_address setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid
setsockopt setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range
syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
""".split()  # noqa: SIM905 - a word list reads better than 300 quoted strings

# Syscalls a test or reviewer may grep for: none of these may ever appear in _ALLOWED.
DENIED = frozenset(
    """
    unshare setns mount umount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig fsmount
    fspick mount_setattr bpf perf_event_open keyctl add_key request_key io_uring_setup io_uring_enter
    io_uring_register ptrace process_vm_readv process_vm_writev kcmp userfaultfd settimeofday stime
    clock_settime clock_settime64 clock_adjtime clock_adjtime64 adjtimex init_module finit_module
    delete_module reboot swapon swapoff kexec_load kexec_file_load acct quotactl quotactl_fd syslog
    open_by_handle_at lookup_dcookie nfsservctl vhangup uselib ustat sysfs _sysctl personality
    set_mempolicy mbind move_pages migrate_pages name_to_handle_at fanotify_init iopl ioperm pidfd_getfd
    socketcall inotify_init inotify_init1 inotify_add_watch inotify_rm_watch mq_open mq_unlink mq_timedsend
    mq_timedreceive mq_notify mq_getsetattr
    """.split()  # noqa: SIM905
)

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
NETLINK_ROUTE = 0
SOCKET_FAMILIES = (AF_UNIX, AF_INET, AF_INET6)  # any protocol; AF_NETLINK only with NETLINK_ROUTE

_ARCHES = {"x86_64": ["SCMP_ARCH_X86_64"], "aarch64": ["SCMP_ARCH_AARCH64"], "arm64": ["SCMP_ARCH_AARCH64"]}


def default_profile(machine: str | None = None, *, runtime: str = "runc") -> dict[str, Any]:
    """Return the profile in OCI ``linux.seccomp`` form for this machine's architecture.

    Under runsc the profile is applied by gVisor's Sentry, which ignores ``errnoRet`` (every refusal is
    EPERM): an ENOSYS rule for clone3 would read as EPERM and glibc would not fall back to clone, so no
    thread could start. gVisor answers clone3 with ENOSYS itself, so there it is allowed.
    """
    machine = machine or platform.machine()
    allowed = sorted(set(_ALLOWED) - DENIED)
    clone_flags_arg = 1 if machine == "s390x" else 0
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": _ARCHES.get(machine, []),
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            # clone is allowed only without namespace flags, so no user/pid/net/mount namespaces.
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": clone_flags_arg, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                     "op": "SCMP_CMP_MASKED_EQ"}
                ],
            },
            # socket(family, type, protocol): one rule per allowed family (rules for one syscall are or-ed).
            *({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": family, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
              for family in SOCKET_FAMILIES),
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": AF_NETLINK, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": NETLINK_ROUTE, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socketpair"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": AF_UNIX, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ALLOW"} if runtime == "runsc"
            else {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        ],
    }
