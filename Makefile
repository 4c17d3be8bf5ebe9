# kubesafe.k8s development tasks (GNU make).
#
#   make test          pip check, then lint, unit, integration and sanity (what CI runs: .ci/run)
#   make lint          ansible-lint, production profile (as Galaxy's importer runs it)
#   make unit          pytest tests/unit
#   make integration   pytest tests/integration (ansible-playbook against the emulator)
#                      both on PYTEST_WORKERS pytest-xdist workers (default 2; 0: one process, serial)
#   make sanity        ansible-test sanity on a copy of the collection
#   make emulator      run the Kubernetes API emulator in the foreground
#   make demo          start the emulator, run the demo steps against it, stop it
#   make bench         run the benchmarks
#   make collection    build the collection tarball into build/
#   make ee-context    the execution environment's build context in build/ee-context (ansible-builder create)
#   make clean         remove generated files (keeps .venv and backups/)
#   make distclean     clean, and remove .venv

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
# ansible-core 2.19 imports cryptography's DSA names at start-up, which cryptography 51 deprecates: that one
# warning, from that one module, is not ours to fix and would open every run (see README, Requirements).
comma := ,
# (Last: Python applies the later -W entries first.)
export PYTHONWARNINGS := $(if $(PYTHONWARNINGS),$(PYTHONWARNINGS)$(comma))ignore:DSA is deprecated:UserWarning:ansible._internal._ssh._ssh_agent
VENV := .venv
VPY := $(VENV)/bin/python
# Marks a venv whose packages match requirements*.txt: it holds their SHA-256.
# The rule runs when a requirements file is newer than the stamp, but installs
# only when their content changed: a fresh clone (every file's mtime is the
# clone's time) next to an existing venv does not reinstall it.
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt tests/requirements.txt
REQUIREMENTS_HASH = $$(cat $(REQUIREMENTS) | sha256sum | cut -d' ' -f1)

# The emulator is test support code, importable as `kubesim` from tests/.
TESTS_PYTHONPATH := tests$(if $(PYTHONPATH),:$(PYTHONPATH))
PYTEST_ARGS ?=
# pytest-xdist workers for unit and integration (-n; 0 runs the tests serially in
# one process, as without xdist). Most of an integration test's time is spent in
# ansible-playbook, module and emulator processes, yet on 2 cores 2 workers beat 3:
# integration 745 s with 2, 861 s with 3 (1,050 s serial); unit 129 s with 2
# (227 s serial); wall times on a shared machine whose other load varied, the
# CPU time (about 17-18 min) was the same with 2 and 3. --dist worksteal: durations range from milliseconds to a minute
# and more, and an idle worker takes queued tests from a busy one.
PYTEST_WORKERS ?= 2
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist worksteal

# Where the emulator writes its kubeconfig (make emulator / make demo).
KUBESIM_KUBECONFIG ?= .kubesim/kubeconfig
KUBESIM_ARGS ?= --sample

# ansible-test needs the collection at .../ansible_collections/<namespace>/<name>.
COLLECTION_ROOT := build
COLLECTION_TREE := $(COLLECTION_ROOT)/ansible_collections/kubesafe/k8s
# Left out of the sanity tree, see the collection-tree target.
SANITY_EXCLUDE := tests/kubesim tests/unit/kubesim
# Python for ansible-test; default: the venv's version (3.11 on the build machines).
SANITY_PYTHON ?= $$($(abspath $(VPY)) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SANITY_ARGS ?=

.PHONY: help venv .venv collection-link test lint unit integration sanity collection-tree get-pip-standin \
        demo demo-run emulator bench collection ee-context clean distclean

help:
	@sed -n '3,/^$$/{s/^# \{0,1\}//;p}' $(firstword $(MAKEFILE_LIST))

venv .venv: $(VENV_STAMP)

$(VPY):
	$(PYTHON) -m venv $(VENV)

# pip first: the pip that comes with the venv backtracks for ages on boto3.
# $(VPY) is order-only: the venv's python is a link to the system's, whose
# mtime says nothing about the packages.
$(VENV_STAMP): $(REQUIREMENTS) | $(VPY)
	@if [[ -f $@ && "$$(cat $@)" == "$(REQUIREMENTS_HASH)" ]]; then \
	  echo "$(VENV): requirements unchanged, not reinstalled"; touch $@; \
	else \
	  set -x; \
	  $(VENV)/bin/pip install --upgrade pip; \
	  $(VENV)/bin/pip install $(addprefix -r ,$(REQUIREMENTS)); \
	  echo "$(REQUIREMENTS_HASH)" > $@; \
	fi

# The collection, importable from the work tree as kubesafe.k8s (ansible.cfg's
# collections_path points at it, and so do the tests).
COLLECTION_LINK := build/collections/ansible_collections/kubesafe/k8s
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(abspath .) $@

collection-link: $(COLLECTION_LINK)

# Sub-makes rather than prerequisites, so the order holds under `make -j` too.
# The encryption tests decrypt with the standard age tool, as a user would in a
# disaster; the file-system volume backups are restic repositories.
test: $(VENV_STAMP) $(COLLECTION_LINK)
	command -v age >/dev/null || (apt-get install -y age || (apt-get update && apt-get install -y age))
	command -v restic >/dev/null || (apt-get install -y restic || (apt-get update && apt-get install -y restic))
	$(VENV)/bin/pip check
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory sanity

# .ansible-lint holds the settings, .ansible-lint-ignore the accepted findings
# with their reasons. The collection is found through ansible.cfg's
# collections_path (the link); --offline is in the config: nothing is installed.
lint: $(VENV_STAMP) $(COLLECTION_LINK)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/ansible-lint

# No `|| true` anywhere: pytest exits 5 when it collects no tests, and that
# must fail the target like any other non-zero exit.
unit: $(VENV_STAMP)
	PYTHONPATH=$(TESTS_PYTHONPATH) $(VPY) -m pytest tests/unit $(PYTEST_XDIST) $(PYTEST_ARGS)

integration: $(VENV_STAMP)
	PYTHONPATH=$(TESTS_PYTHONPATH) $(VPY) -m pytest tests/integration $(PYTEST_XDIST) $(PYTEST_ARGS)

# A fresh copy of the collection, for ansible-test.
# - A copy, not a symlink: ansible-test works from the real path of the
#   current directory, so through a symlink .../ansible_collections/kubesafe/k8s
#   -> repo it sees the repo path and stops with 'No "ansible_collections"
#   parent directory was found'.  Copying a few hundred small files takes
#   well under a second, and a fresh copy drops files deleted since.
# - The file list is git's: tracked plus untracked-but-not-ignored files
#   (so uncommitted work is checked, .venv/build/outputs are not), minus files
#   deleted in the work tree.
# - `git init` in the copy: ansible-test lists the files to check with git
#   when it finds a .git above the content root; without one of its own it
#   would find this repository's, where build/ is ignored, and see no files.
# - $(SANITY_EXCLUDE) are left out: the API server emulator and its
#   own tests.  They are a test server, not collection content (no plugin,
#   module or role imports them), written to their own conventions (an HTTP
#   server, Python 3.11 only, `_` as a throwaway name, ...) which the rules
#   ansible-test applies to shipped plugins do not fit.  pytest runs them on
#   every `make test`.  Tests of the collection itself (the rest of
#   tests/unit, tests/integration) stay in and must pass sanity.
collection-tree:
	rm -rf $(COLLECTION_ROOT)/ansible_collections
	mkdir -p $(COLLECTION_TREE)
	git ls-files -z --cached --others --exclude-standard -- . \
	    $(foreach p,$(SANITY_EXCLUDE),':(exclude)$(p)') \
	  | while IFS= read -r -d '' f; do \
	      if [[ -e $$f || -L $$f ]]; then printf '%s\0' "$$f"; fi; \
	    done \
	  | tar --null --no-recursion --files-from=- -cf - \
	  | tar -xf - -C $(COLLECTION_TREE)
	git -C $(COLLECTION_TREE) init --quiet
	@echo "collection tree: $(COLLECTION_TREE) ($$(find $(COLLECTION_TREE) -path '*/.git' -prune -o -type f -print | wc -l) files)"

# ansible-test --venv bootstraps pip in its venvs with a get-pip.py it
# downloads from a host we cannot reach, unless a cached copy exists; put our
# offline stand-in there (see hacking/get_pip_standin.py).
get-pip-standin: $(VENV_STAMP)
	$(VPY) hacking/get_pip_standin.py --install

sanity: $(VENV_STAMP) get-pip-standin collection-tree
	cd $(COLLECTION_TREE) && \
	  PATH="$(abspath $(VENV))/bin:$$PATH" \
	  $(abspath $(VENV))/bin/ansible-test sanity --venv --python $(SANITY_PYTHON) --color no $(SANITY_ARGS)

# Start the emulator, run demo-run against it, stop it.
# $(DEMO_MAKE), not $(MAKE): GNU make runs a line that mentions $(MAKE) even
# under `make -n`, and this one starts the emulator; `make -n demo` only prints.
DEMO_MAKE = $(MAKE) --no-print-directory
demo: $(VENV_STAMP) $(COLLECTION_LINK)
	KUBESIM_PYTHON=$(VPY) KUBESIM_PYTHONPATH=$(TESTS_PYTHONPATH) \
	KUBESIM_KUBECONFIG=$(KUBESIM_KUBECONFIG) KUBESIM_ARGS='$(KUBESIM_ARGS)' \
	  hacking/with-kubesim $(DEMO_MAKE) demo-run KUBESIM_KUBECONFIG=$(KUBESIM_KUBECONFIG)

# The demo steps, against a running emulator or cluster (KUBESIM_KUBECONFIG):
# back up with playbooks/backup.yml, lose a namespace, restore it with
# playbooks/restore.yml, and show it is back.
DEMO_BACKUP ?= demo-$(shell date -u +%Y%m%d%H%M%S)
DEMO_NAMESPACE ?= shop
DEMO_KUBECTL = kubectl --kubeconfig $(KUBESIM_KUBECONFIG)
demo-run: $(COLLECTION_LINK)
	@echo "== the cluster before"
	$(DEMO_KUBECTL) get deployments,statefulsets,services,pvc,configmaps,secrets -n $(DEMO_NAMESPACE)
	@echo "== back it up to ./backups"
	KUBECONFIG=$(KUBESIM_KUBECONFIG) $(VENV)/bin/ansible-playbook playbooks/backup.yml -e backup_name=$(DEMO_BACKUP)
	ls backups/backups/$(DEMO_BACKUP)
	@echo "== disaster: namespace $(DEMO_NAMESPACE) is deleted"
	$(DEMO_KUBECTL) delete namespace $(DEMO_NAMESPACE)
	$(DEMO_KUBECTL) get namespaces
	@echo "== restore it"
	KUBECONFIG=$(KUBESIM_KUBECONFIG) $(VENV)/bin/ansible-playbook playbooks/restore.yml -e backup=$(DEMO_BACKUP) -e restore_wait=true
	@echo "== the cluster after"
	$(DEMO_KUBECTL) get deployments,statefulsets,services,pvc,configmaps,secrets -n $(DEMO_NAMESPACE)

emulator: $(VENV_STAMP)
	mkdir -p $(dir $(KUBESIM_KUBECONFIG))
	PYTHONPATH=$(TESTS_PYTHONPATH) $(VPY) -m kubesim serve $(KUBESIM_ARGS) --kubeconfig $(KUBESIM_KUBECONFIG)

BENCH_ARGS ?=
bench: $(VENV_STAMP)
	PYTHONPATH=$(TESTS_PYTHONPATH) $(VPY) tests/bench/run.py $(BENCH_ARGS)

collection: $(VENV_STAMP)
	mkdir -p $(COLLECTION_ROOT)
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(COLLECTION_ROOT)

# The collection tarball (galaxy.yml's version) and ansible-builder's context
# for execution-environment.yml; build the image from it with podman or docker.
EE_CONTEXT ?= $(COLLECTION_ROOT)/ee-context
ee-context: $(VENV_STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" hacking/ee-context $(EE_CONTEXT)

clean:
	rm -rf $(COLLECTION_ROOT) ansible_collections tests/output .kubesim .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
