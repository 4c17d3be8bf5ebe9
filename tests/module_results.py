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


def of_kind(cluster, kind, namespace=None):
    return [o for o in cluster.control.dump() if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)]
