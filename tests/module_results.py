"""Run one of the collection's modules through ansible-playbook and get its registered result; read emulator objects."""

import json


def module_plays(tasks, result_file):
    """One play running ``tasks`` (each registering a result) and saving the registered results as JSON."""
    names = [task["register"] for task in tasks]
    tasks = list(tasks) + [{"name": "Save the results", "ansible.builtin.copy": {
        "dest": str(result_file), "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (name, name) for name in names)},
        "check_mode": False}]  # the results are saved also when the modules run with --check
    return [{"name": "volumes", "hosts": "localhost", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": tasks}]


def run_module(ansible_playbook, env, tmp_path, module, args, check=True):
    """The registered result of one ``kubesafe.k8s.<module>`` task run by ansible-playbook; check=False lets it fail."""
    result_file = tmp_path / ("result-%s.json" % module)
    task = {"name": module, "kubesafe.k8s.%s" % module: args, "register": "out", "ignore_errors": not check}
    ansible_playbook(module_plays([task], result_file), env)
    return json.loads(result_file.read_text())["out"]


def run_modules(ansible_playbook, env, tmp_path, calls):
    """The registered results of ``calls`` ([(module, args), ...]), run in order by one ansible-playbook: one start-up
    of ansible-playbook instead of one per module, where a test only reads what they answer."""
    result_file = tmp_path / ("results-%d.json" % len(list(tmp_path.glob("results-*.json"))))
    tasks = [{"name": module, "kubesafe.k8s.%s" % module: args, "register": "out%d" % index} for index, (module, args) in enumerate(calls)]
    ansible_playbook(module_plays(tasks, result_file), env)
    results = json.loads(result_file.read_text())
    return [results["out%d" % index] for index in range(len(calls))]


def of_kind(cluster, kind, namespace=None):
    return [o for o in cluster.control.dump() if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)]
