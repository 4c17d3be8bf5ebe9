"""The playbooks the benchmarks time: kubesafe.k8s.backup against the k8s_info loop a user would hand-write, and kubesafe.k8s.restore."""

import json
import os
import signal
import subprocess
import sys
import time

import yaml

import collection_path

from bench import rss_interpreter

BIN = os.path.dirname(sys.executable)
# The file each module process runs, as rss_interpreter logs it.
BACKUP_MODULE_FILE = "AnsiballZ_backup.py"
RESTORE_MODULE_FILE = "AnsiballZ_restore.py"


class PlaybookRun:
    """Wall time of one ansible-playbook run, the peak RSS of its process tree, and of each module process."""

    def __init__(self, seconds, returncode, tree_peak_rss_mib, modules, output):
        self.seconds = seconds
        self.returncode = returncode
        # ru_maxrss of ansible-playbook as its parent sees it through wait4: the largest of ansible-playbook
        # itself and every descendant it waited for (forked workers, module processes); not a sum. The parent
        # is rss_interpreter, a small process: a child started straight from the benchmark would carry the
        # benchmark's own peak in its ru_maxrss.
        self.tree_peak_rss_mib = tree_peak_rss_mib
        # One {"module", "peak_rss_mib", "seconds"} per module process, from rss_interpreter.
        self.modules = modules
        self.output = output


def run_playbook(plays, workdir, env, timeout, module_rss=False):
    """Run ``plays`` on localhost; a PlaybookRun, or None when it did not finish within ``timeout`` seconds.

    module_rss: run modules through rss_interpreter to record each module process's peak RSS. It costs a
    fork and a Python start per module (tens of ms), so the k8s_info loop (186 module runs) goes without it.
    """
    os.makedirs(workdir, exist_ok=True)
    playbook = os.path.join(workdir, "playbook.yml")
    with open(playbook, "w", encoding="utf-8") as stream:
        yaml.safe_dump(plays, stream, sort_keys=False)
    log_file = os.path.join(workdir, "module-rss.jsonl")
    interpreter = sys.executable
    if module_rss:
        interpreter = os.path.join(workdir, "python-rss")
        with open(interpreter, "w", encoding="utf-8") as stream:
            stream.write(rss_interpreter.launcher_script(sys.executable, log_file))
        os.chmod(interpreter, 0o755)
    run_env = dict(env)
    run_env.update({
        "ANSIBLE_COLLECTIONS_PATH": collection_path.COLLECTIONS_PATH,
        "ANSIBLE_PYTHON_INTERPRETER": interpreter,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    })
    output_path = os.path.join(workdir, "ansible-playbook.out")
    tree_log = os.path.join(workdir, "ansible-playbook-rss.jsonl")
    started = time.perf_counter()
    with open(output_path, "w", encoding="utf-8") as output:
        process = subprocess.Popen([sys.executable, os.path.abspath(rss_interpreter.__file__), tree_log, os.path.join(BIN, "ansible-playbook"),
                                    "-i", "localhost,", "-c", "local", playbook],
                                   env=run_env, cwd=workdir, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + timeout
        while True:
            pid, status, _usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                os.wait4(process.pid, 0)
                process.returncode = -9
                return None
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    with open(output_path, encoding="utf-8") as stream:
        text = stream.read()
    tree = _rss_log(tree_log)
    return PlaybookRun(seconds, process.returncode, tree[-1]["peak_rss_mib"] if tree else None, _rss_log(log_file), text)


def _rss_log(path):
    """The lines rss_interpreter wrote to ``path``."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def backup_plays(kubeconfig, location, name, included_namespaces=None):
    """One kubesafe.k8s.backup task: the whole cluster (or ``included_namespaces``) into a local directory."""
    options = {"kubeconfig": kubeconfig, "name": name, "location": location}
    if included_namespaces:
        options["included_namespaces"] = included_namespaces
    return [{
        "name": "kubesafe.k8s.backup",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Back up the cluster", "kubesafe.k8s.backup": options}],
    }]


def ping_plays():
    """One ansible.builtin.ping task: what any ansible-playbook run costs before its module does anything."""
    return [{"name": "floor", "hosts": "localhost", "gather_facts": False, "tasks": [{"name": "Ping", "ansible.builtin.ping": {}}]}]


def restore_plays(kubeconfig, location, backup, name):
    """One kubesafe.k8s.restore task: the whole backup into the cluster."""
    return [{
        "name": "kubesafe.k8s.restore",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Restore the backup", "kubesafe.k8s.restore": {"kubeconfig": kubeconfig, "location": location, "backup": backup,
                                                                          "name": name}}],
    }]


def k8s_info_plays(kubeconfig, resources, directory):
    """What a user writes today: k8s_info over every kind, then one YAML file per kind."""
    kinds = [{"api_version": resource.api_version, "kind": resource.kind} for resource in resources]
    return [{
        "name": "k8s_info loop",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"kinds": kinds, "backup_dir": directory},
        "tasks": [
            {"name": "List every kind", "kubernetes.core.k8s_info": {
                "kubeconfig": kubeconfig, "api_version": "{{ item.api_version }}", "kind": "{{ item.kind }}"},
             "loop": "{{ kinds }}", "loop_control": {"label": "{{ item.api_version }}/{{ item.kind }}"}, "register": "listed"},
            {"name": "Write one YAML file per kind", "ansible.builtin.copy": {
                "content": "{{ item.resources | to_nice_yaml }}",
                "dest": "{{ backup_dir }}/{{ item.item.api_version | replace('/', '_') }}_{{ item.item.kind }}.yaml"},
             "loop": "{{ listed.results }}", "loop_control": {"label": "{{ item.item.api_version }}/{{ item.item.kind }}"}},
        ],
    }]
