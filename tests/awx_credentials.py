"""What AWX hands a job for its credentials: the environment and extra vars its injectors render.

``inject(credential_type, inputs, private_data_dir)`` follows AWX's CredentialType.inject_credential
for custom credential types (the YAML files in docs/awx/): fields left empty are not in the template
namespace (so they render as ""), every file injector writes a file under ``<private_data_dir>/env``
(``tower.filename.<name>``, even when it renders empty), every env and extra_vars key is set, and the
extra vars reach ansible-playbook as ``-e @file``. Templates render in Jinja's immutable sandbox, as
AWX renders them.
"""

import os
import tempfile

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment


class _Namespace:
    pass


def load_credential_type(path):
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def inject(credential_type, inputs, private_data_dir):
    """(env, extra_vars_args): the variables to add to the job's environment, and ``-e @file`` arguments."""
    sandbox = ImmutableSandboxedEnvironment()
    namespace = {name: value for name, value in inputs.items() if isinstance(value, bool) or len(value)}
    for field in credential_type["inputs"].get("fields", []):
        if field.get("type") == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    injectors = credential_type.get("injectors", {})
    tower = _Namespace()
    for label, template in injectors.get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as stream:
            stream.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, 0o600)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    namespace["tower"] = tower
    env = {name: sandbox.from_string(template).render(**namespace) for name, template in injectors.get("env", {}).items()}
    args = []
    extra_vars = {name: sandbox.from_string(template).render(**namespace) for name, template in injectors.get("extra_vars", {}).items()}
    if extra_vars:
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as stream:
            yaml.safe_dump(extra_vars, stream)
        args = ["-e", "@" + path]
    return env, args


def aws_environment(access_key, secret_key, session_token=None):
    """AWX's built-in Amazon Web Services credential (a managed type with an injector function, not a template)."""
    env = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    if session_token:
        env["AWS_SECURITY_TOKEN"] = env["AWS_SESSION_TOKEN"] = session_token
    return env
