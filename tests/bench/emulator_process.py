"""Start the emulator in its own process (so a benchmark's client does not share its GIL) and seed it."""

import os
import subprocess
import sys
import tempfile

from kubesim.client import ControlClient

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EmulatorProcess:
    def __init__(self, *serve_args):
        self.directory = tempfile.mkdtemp(prefix="kubesim-bench-")
        self.kubeconfig = os.path.join(self.directory, "kubeconfig")
        env = dict(os.environ, PYTHONPATH=TESTS_DIR, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([sys.executable, "-m", "kubesim", "serve", "--kubeconfig", self.kubeconfig] + list(serve_args),
                                        stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        if "ready at" not in line:
            self.process.kill()
            raise RuntimeError("the emulator did not start: %r" % line)
        self.url = line.split("ready at ", 1)[1].split()[0]
        self.control = ControlClient(self.url)

    def seed_configmaps(self, count, namespaces=10, batch=5000, payload_bytes=400):
        """``count`` ConfigMaps spread over ``namespaces`` namespaces, ~payload_bytes of data each."""
        filler = "x" * payload_bytes
        pending = []
        for index in range(count):
            pending.append({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "cm-%06d" % index, "namespace": "bench-%02d" % (index % namespaces),
                                         "labels": {"app": "bench", "shard": str(index % 7)}},
                            "data": {"index": str(index), "payload": filler}})
            if len(pending) == batch:
                self.control.seed(pending)
                pending = []
        if pending:
            self.control.seed(pending)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
