"""A Python interpreter for Ansible modules that records each module process's peak RSS.

The benchmarks set ``ansible_python_interpreter`` to a launcher that runs
``python rss_interpreter.py LOG_FILE <what Ansible passes>``. This runs the
real interpreter as a child, with the same arguments and standard streams,
waits for it with wait4 and appends one JSON line to LOG_FILE: the module
file, the child's peak RSS (ru_maxrss: the module process alone, since
AnsiballZ runs the module in the interpreter's own process) and seconds.

bench/playbooks.py also starts ansible-playbook itself through it: ru_maxrss
keeps, across exec, the peak of the process that was replaced, so a child
started straight from the benchmark (which may hold 100k objects) would report
the benchmark's size; this small process in between reports the child's own.
"""

import json
import os
import resource
import sys
import time


def launcher_script(python, log_file):
    """Text of an executable that Ansible can use as the Python interpreter."""
    return "#!/bin/sh\nexec %s %s %s \"$@\"\n" % (python, os.path.abspath(__file__), log_file)


def own_peak_rss_mib():
    """This process's peak RSS in MiB, from VmHWM (Linux), else ru_maxrss.

    Not ru_maxrss first: across exec it keeps the peak of the process image that
    was replaced, so a worker that subprocess starts from a large parent (the
    benchmark holding 100k objects) would report at least the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv):
    log_file, arguments = argv[0], argv[1:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable] + arguments)
    _pid, status, usage = os.wait4(pid, 0)
    with open(log_file, "a", encoding="utf-8") as log:
        module = next((os.path.basename(arg) for arg in arguments if arg.endswith(".py")), " ".join(arguments)[:80])
        log.write(json.dumps({"module": module, "peak_rss_mib": usage.ru_maxrss / 1024.0,
                              "seconds": time.perf_counter() - started}) + "\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
