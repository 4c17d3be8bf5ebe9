# -*- coding: utf-8 -*-
# Copyright: kubesafe.k8s contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for pip's get-pip.py, for ``ansible-test ... --venv``.

``ansible-test --venv`` creates its virtual environments without pip and then
bootstraps pip with ``get-pip-<version>.py`` downloaded from
ci-files.testing.ansible.com, a host that is not reachable from our build
machines.  Before downloading it looks for a cached copy at
``~/.ansible/test/cache/get_pip_<version with _>.py`` and runs that instead
(``ansible_test/_util/target/setup/requirements.py``, ``bootstrap()``), as::

    python quiet_pip.py --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel

with GET_PIP pointing at the cached file.  This script is that cached file:
it installs the pip wheel bundled with Python (``ensurepip``), then runs
``pip install`` with the same arguments (from the package index, which is
reachable) and honours ``--no-setuptools`` / ``--no-wheel`` like get-pip.

Run it by hand (``make sanity`` does) to put it in place::

    python hacking/get_pip_standin.py --install
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

MARKER = 'kubesafe.k8s get-pip stand-in'


def ansible_test_pip_version():
    """Return the pip version that the installed ansible-test bootstraps."""
    try:
        from types import SimpleNamespace

        from ansible_test._internal.python_requirements import get_venv_packages

        return get_venv_packages(SimpleNamespace(version='%d.%d' % sys.version_info[:2]))['pip']
    except Exception:  # pylint: disable=broad-except
        pass

    # Fall back to reading the source, in case the internal API changes.
    import ansible_test

    source = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(source, encoding='utf-8') as handle:
        match = re.search(r"\bpip='([0-9][0-9.]*)'", handle.read())
    if not match:
        raise SystemExit('cannot find the pip version ansible-test wants in %s' % source)
    return match.group(1)


def install():
    """Copy this file to where ansible-test looks for its cached get-pip script."""
    version = ansible_test_pip_version()
    target = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % version.replace('.', '_'))

    if os.path.exists(target):
        with open(target, encoding='utf-8', errors='replace') as handle:
            if MARKER not in handle.read():
                # A real get-pip.py someone downloaded: it works too, keep it.
                print('%s: real get-pip script present, left alone' % target)
                return 0

    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(os.path.abspath(__file__), target)
    print('%s: get-pip stand-in for pip %s installed' % (target, version))
    return 0


def run(command):
    """Run a command, echoing it; return its exit status."""
    print('get-pip stand-in: %s' % ' '.join(command), file=sys.stderr)
    sys.stderr.flush()
    return subprocess.call(command)


def bootstrap(args):
    """Do what get-pip.py does: install pip (and the requested packages)."""
    no_setuptools = '--no-setuptools' in args
    pip_args = [arg for arg in args if arg not in ('--no-setuptools', '--no-wheel')]

    had_setuptools = importlib.util.find_spec('setuptools') is not None

    status = run([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
    if status:
        print('get-pip stand-in: ensurepip failed; this Python lacks ensurepip '
              '(Debian/Ubuntu: apt-get install python3-venv)', file=sys.stderr)
        return status

    status = run([sys.executable, '-m', 'pip', 'install'] + pip_args)
    if status:
        return status

    # ensurepip on Python < 3.12 also installs setuptools; get-pip does not
    # when told --no-setuptools, and ansible-test's requirements assume that.
    if no_setuptools and not had_setuptools:
        status = run([sys.executable, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools'])

    return status


def main():
    """Entry point."""
    args = sys.argv[1:]
    if args == ['--install']:
        return install()
    return bootstrap(args)


if __name__ == '__main__':
    sys.exit(main())
