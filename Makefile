# The README's two commands: `make demo` and `make test`. On a fresh Debian machine (as root) each
# installs the Debian packages it needs (tools/apt_install.py: never one whose installation would
# remove or downgrade an installed package), makes a .venv from Debian's python3 and installs
# boxtrace into it. Each stage prints one line; the details go to $(LOG).

VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip --disable-pip-version-check
LOG      := build/setup.log
VERSION  := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
TYPECHECK_TREE := build/typecheck

# The interpreter the venv is made from: Debian's python3 when there is one (built with PGO and LTO:
# `python -c pass` takes ~13 ms, ~30 ms with a plain build such as pyenv's), else python3 on PATH.
# `make PYTHON=/path/to/python3.11 ...` picks another (the venv is made again when it changes).
# Recursive on purpose: evaluated when a recipe runs, after the apt stage may have installed it.
PYTHON ?= $(shell if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi)

# Debian packages, one group per `apt-get install` (a group that cannot install does not stop the
# next). A package whose installation would remove another one (docker.io removes Docker's
# docker-ce) is skipped with the reason, and the tests that need it say so when they skip.
# What `make demo` needs: busybox for the default image, the interpreter for the venv.
DEMO_APT_PACKAGES     := busybox-static python3 python3-venv
# What the tests add. New test tools go in TEST_APT_PACKAGES, or a group of their own.
TEST_APT_PACKAGES     := runc crun strace tmux hyperfine iproute2 util-linux openssl
REGISTRY_APT_PACKAGES := docker-registry skopeo
ENGINE_APT_PACKAGES   := podman docker.io
# The pure cgroup v2 VM lane (tests/vm, docs/testing.md): qemu, kmod (depmod for the unpacked
# kernel's modules) and file (virtme-ng reads the kernel's version with it).
VM_APT_PACKAGES       := qemu-system-x86 kmod file
# Debian's browser for the end-to-end test of `boxtrace serve` (Playwright drives it; nothing is
# downloaded), and other runtimes whose traces the catalogue must explain (bubblewrap,
# systemd-nspawn; LXC is left out: its package sets up a bridge and dnsmasq on a user's machine).
BROWSER_APT_PACKAGES  := chromium
RUNTIMES_APT_PACKAGES := bubblewrap systemd-container
# The arm64 lane (tests/vm/arm64, docs/testing.md): qemu-system-aarch64, and what builds its arm64
# root filesystem from Debian's packages (mmdebstrap; qemu-user through binfmt_misc).
ARM64_APT_PACKAGES    := qemu-system-arm qemu-user-static binfmt-support mmdebstrap
APT_INSTALL = python3 tools/apt_install.py --log $(LOG) --skipped build/apt-skipped.json

# $(call quietly,STAGE,COMMAND): COMMAND's output goes to the log; if it fails, the log's last lines.
quietly = { echo "== $(1): $$(date '+%F %T')"; $(2); } >>$(LOG) 2>&1 || { echo "$(1): failed; the last lines of $(LOG):"; \
	tail -n 25 $(LOG) | sed 's/^/    /'; echo "$(1): the whole log: $(LOG)"; exit 1; }

.PHONY: demo test setup setup-demo apt-demo apt-test python3 venv venv-test dev lint typecheck pytest lane-v2 lane-arm64 fuzz bench clean FORCE

# On a terminal the TUI opens held at the container's first step (a newcomer presses n to step, c to
# run to the end); piped, the annotated lines.
demo: setup-demo
	@if [ -t 1 ]; then exec $(VENV)/bin/boxtrace run --step; else exec $(VENV)/bin/boxtrace run; fi

test: setup lint typecheck pytest lane-v2 lane-arm64

# The venv stage runs in a second make so that PYTHON is looked up after apt has run.
setup-demo: apt-demo
	@$(MAKE) --no-print-directory venv

setup: apt-test
	@$(MAKE) --no-print-directory venv-test

apt-demo: python3
	@$(APT_INSTALL) "$(DEMO_APT_PACKAGES)"

apt-test: python3
	@$(APT_INSTALL) "$(DEMO_APT_PACKAGES)" "$(TEST_APT_PACKAGES)" "$(REGISTRY_APT_PACKAGES)" "$(ENGINE_APT_PACKAGES)" "$(VM_APT_PACKAGES)" "$(ARM64_APT_PACKAGES)" "$(BROWSER_APT_PACKAGES)" "$(RUNTIMES_APT_PACKAGES)"

# tools/apt_install.py needs a python3 (any: it uses the standard library only).
python3:
	@mkdir -p build; command -v python3 >/dev/null || { \
		echo "apt: installing python3 (log: $(LOG))"; \
		$(call quietly,apt,apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-remove python3); }

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

# Rewritten only when their content changes, so that the install is redone only then: the
# interpreter chosen, and the list of the package's files (added, removed or renamed files need a
# new install; edits do not: the install links to the sources).
build/python-path: FORCE
	@mkdir -p build; py=$$(command -v "$(PYTHON)") || { \
		echo "venv: no python3 '$(PYTHON)': install Debian's python3 and python3-venv, or pass make PYTHON=/path/to/python3.11"; exit 2; }; \
	real=$$(readlink -f "$$py"); [ "$$(cat $@ 2>/dev/null)" = "$$real" ] || echo "$$real" > $@

build/source-files: FORCE
	@mkdir -p build; find boxtrace tracer runtime lessons tui -name '*.py' -o -name '*.toml' -o -name '*.tcss' \
		| LC_ALL=C sort > $@.new; if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

# A development install that adds nothing to interpreter start-up: setuptools' strict editable mode
# makes a tree of links to the sources (build/__editable__.*) and puts its path, a plain line, in a
# .pth file; no import hook (the default editable mode's finder imports pathlib, re, urllib... at
# every start, ~15 ms). Edits show at once; files added or removed need `make venv` (tests/conftest.py
# refuses to run until then). setuptools leaves the venv: its .pth imports _distutils_hack at every
# start, and pip builds in an isolated environment of its own.
# bin/boxtrace, bin/boxtrace-runtime and bin/boxtrace-runc are copied, not linked (scripts of script-files): an edit
# needs a new install.
$(VENV)/.installed: build/python-path build/source-files pyproject.toml bin/boxtrace bin/boxtrace-runtime bin/boxtrace-runc
	@py=$$(cat build/python-path); \
	if [ -e $(PY) ] && [ "$$(readlink -f $(PY))" != "$$py" ]; then \
		echo "venv: $(VENV) was made from $$(readlink -f $(PY)), not $$py: making it again"; rm -rf $(VENV); fi; \
	if [ ! -x $(PY) ]; then \
		echo "venv: creating $(VENV) from $(PYTHON) ($$("$$py" -V)) (log: $(LOG))"; \
		$(call quietly,venv,"$$py" -m venv $(VENV) && $(PIP) uninstall -y setuptools); fi
	@echo "install: boxtrace $(VERSION) into $(VENV) (development install: links to the sources)"
	@$(call quietly,install,$(PIP) install -e . --config-settings editable_mode=strict)
	@# The link tree is new at each install: compile it now (as pip does for a regular install), or the
	@# first runs, and every run where PYTHONDONTWRITEBYTECODE is set, compile each module again
	@# (~20 ms of a `boxtrace run`).
	@$(call quietly,install,$(PY) -m compileall -q build/__editable__.boxtrace-*)
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	@echo "install: the test tools (the 'test' extra of pyproject.toml: pytest, ruff, mypy...) into $(VENV)"
	@$(call quietly,install,$(PIP) install -e '.[test]' --config-settings editable_mode=strict)
	@# This install makes the link tree again: compile it again (see .installed), or every run under
	@# PYTHONDONTWRITEBYTECODE compiles each module (~25 ms of a `boxtrace trace -q -- /bin/true`).
	@$(call quietly,install,$(PY) -m compileall -q build/__editable__.boxtrace-*)
	@touch $@

# setuptools' default editable install, for a developer who adds files often: they show without
# `make venv`, at the cost of its import hook (~15 ms at every interpreter start). It stays until
# the next install by `make venv` (after a change to pyproject.toml or to the list of files).
dev: $(VENV)/.installed-test
	@echo "install: boxtrace $(VERSION) into $(VENV) (editable, with setuptools' import hook)"
	@$(call quietly,install,$(PIP) install -e '.[test]')

lint: venv-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The folders install as one package through package-dir; mypy needs to see that layout, so it
# checks a tree of links that mirrors the installed package.
typecheck: venv-test
	rm -rf $(TYPECHECK_TREE) && mkdir -p $(TYPECHECK_TREE)/boxtrace
	for f in boxtrace/*; do ln -s "$(CURDIR)/$$f" $(TYPECHECK_TREE)/boxtrace/; done
	for d in tracer runtime lessons tui; do ln -s "$(CURDIR)/$$d" $(TYPECHECK_TREE)/boxtrace/$$d; done
	cd $(TYPECHECK_TREE) && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml -p boxtrace

pytest: venv-test
	$(PY) -m pytest -q

# The tests marked cgroup_v2 in a VM with Debian's stock kernel and pure cgroup v2 (this machine
# kind is hybrid); on a pure v2 host they ran in pytest already and the lane says so.
lane-v2: venv-test
	$(PY) -m tests.vm.lane

# Debian's arm64 kernel under qemu-system-aarch64 (software emulation) on an arm64 Debian tree built
# once per recipe and cached in /var/cache/boxtrace/vm: the runtime, the tracer against strace,
# seccomp and two lessons on a real arm64 kernel. Not part of `make test` (yet).
lane-arm64: venv-test
	$(PY) -m tests.vm.arm64

# Long fuzzing runs (Hypothesis's "long" profile: fifty times the examples of make test's, randomized).
fuzz: venv-test
	BOXTRACE_FUZZ=long BOXTRACE_TESTS_CONCURRENT=1 $(PY) -m pytest -q tests/fuzz

bench: setup
	$(PY) -m bench.run_all

clean:
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache

FORCE:
