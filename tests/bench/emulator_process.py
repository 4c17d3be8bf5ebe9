"""Start the emulator in its own process (so a benchmark's client does not share its GIL) and seed it."""

import os
import subprocess
import sys
import tempfile

from kubesim.client import ControlClient

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EmulatorProcess:
    # Arguments every emulator of a run gets (run.py --scale adds --compact-objects).
    common_args = ()

    def __init__(self, *serve_args):
        self.directory = tempfile.mkdtemp(prefix="kubesim-bench-")
        self.kubeconfig = os.path.join(self.directory, "kubeconfig")
        env = dict(os.environ, PYTHONPATH=TESTS_DIR, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([sys.executable, "-m", "kubesim", "serve", "--kubeconfig", self.kubeconfig] + list(self.common_args) + list(serve_args),
                                        stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        if "ready at" not in line:
            self.process.kill()
            raise RuntimeError("the emulator did not start: %r" % line)
        self.url = line.split("ready at ", 1)[1].split()[0]
        self.control = ControlClient(self.url)

    def seed(self, objects, batch=2000):
        """Create ``objects`` (an iterable of manifests) through the control API, ``batch`` per request; returns how many."""
        created = 0
        pending = []
        for obj in objects:
            pending.append(obj)
            if len(pending) == batch:
                created += self.control.seed(pending)
                pending = []
        if pending:
            created += self.control.seed(pending)
        return created

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
