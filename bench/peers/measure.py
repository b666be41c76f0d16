#!/usr/bin/python3
"""Runs one client for bench/compare.sh and measures it from outside:

    measure.py OUT_FILE SERVER_PID -- COMMAND [ARGS...]

Forks and execs COMMAND (its standard streams are this process's), waits
for it with wait4(), and writes one line to OUT_FILE:

    TIME wall_s user_s sys_s maxrss_kib server_cpu_s machine_cpu_s

wall_s is from the fork to the child's exit; user_s, sys_s and maxrss_kib
are the child's own rusage (every thread of it, nothing of this process and
nothing of the server's), in microseconds rather than GNU time's
hundredths; server_cpu_s is utime + stime of SERVER_PID (every thread) over
the same interval, read from /proc/SERVER_PID/stat, or -1 when SERVER_PID is
0 or unreadable; machine_cpu_s is the busy time of every CPU over the same
interval, from /proc/stat, so that the CPU of other processes can be told
(it is -1 when unreadable). Exits with COMMAND's status (128 + N when killed by
signal N)."""

import os
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    if pid <= 0:
        return -1.0
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
    except OSError:
        return -1.0
    # The command name may hold spaces and parentheses: fields resume after
    # the last ')'. utime and stime are fields 14 and 15; this is field 3.
    fields = s[s.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_s():
    """Busy time of all CPUs: user, nice, system, irq, softirq, steal."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return -1.0
    if fields[0] != b"cpu" or len(fields) < 9:
        return -1.0
    busy = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
    return busy / CLK_TCK


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.stderr.write("usage: measure.py OUT_FILE SERVER_PID -- COMMAND "
                         "[ARGS...]\n")
        return 2
    out, server = sys.argv[1], int(sys.argv[2])
    argv = sys.argv[4:]
    sys.stdout.flush()
    sys.stderr.flush()
    m0 = machine_cpu_s()
    s0 = proc_cpu_s(server)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            sys.stderr.write("measure.py: %s: %s\n" % (argv[0], err))
        os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.monotonic()
    s1 = proc_cpu_s(server)
    m1 = machine_cpu_s()
    with open(out, "w") as f:
        f.write("TIME %.6f %.6f %.6f %d %.2f %.2f\n" % (
            t1 - t0, ru.ru_utime, ru.ru_stime, ru.ru_maxrss,
            s1 - s0 if s0 >= 0 and s1 >= 0 else -1,
            m1 - m0 if m0 >= 0 and m1 >= 0 else -1))
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
