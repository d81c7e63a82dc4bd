# The README's two commands: `make demo` and `make test`. Both set up everything on a fresh
# Debian machine (as root): the Debian packages, a .venv with boxtrace installed editable.

VENV        := .venv
PY          := $(VENV)/bin/python
# qemu-system-x86, kmod (depmod) and file (virtme-ng reads the kernel's version with it): the
# cgroup v2 VM lane (tests/vm, docs/testing.md)
APT_PACKAGES := busybox-static runc crun strace tmux hyperfine iproute2 util-linux docker-registry skopeo openssl podman docker.io qemu-system-x86 kmod file
TYPECHECK_TREE := build/typecheck

.PHONY: demo test setup apt venv lint typecheck pytest lane-v2 bench clean

demo: setup
	$(VENV)/bin/boxtrace run

test: setup lint typecheck pytest lane-v2

setup: apt venv

apt:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		echo "apt: $(APT_PACKAGES) already installed"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
		echo "apt: not root, cannot install $(APT_PACKAGES); install them with sudo"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The folders install as one package through package-dir; mypy needs to see that layout, so it
# checks a tree of links that mirrors the installed package.
typecheck: venv
	rm -rf $(TYPECHECK_TREE) && mkdir -p $(TYPECHECK_TREE)/boxtrace
	for f in boxtrace/*; do ln -s "$(CURDIR)/$$f" $(TYPECHECK_TREE)/boxtrace/; done
	for d in tracer runtime lessons tui; do ln -s "$(CURDIR)/$$d" $(TYPECHECK_TREE)/boxtrace/$$d; done
	cd $(TYPECHECK_TREE) && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml -p boxtrace

pytest: venv
	$(PY) -m pytest -q

# The tests marked cgroup_v2 in a VM with Debian's stock kernel and pure cgroup v2 (this machine
# kind is hybrid); on a pure v2 host they ran in pytest already and the lane says so.
lane-v2: venv
	$(PY) -m tests.vm.lane

bench: setup
	$(PY) -m bench.run_all

clean:
	rm -rf build $(VENV) .pytest_cache .mypy_cache .ruff_cache
