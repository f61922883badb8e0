# kubenode — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test lint venv migrate browser clean messages bench bench-quick kube-apiserver image test-contract apiserver-run screenshots

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-logins.txt pyproject.toml
	scripts/install-logins.sh  # slapd, python-ldap's headers, the test OIDC provider (when missing)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .  # the kubectl-kubenode command
	touch $@

venv: $(VENV)/.installed

var/secret_key:
	mkdir -p var
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

## messages: the translations' .mo files compiled from locale/*/LC_MESSAGES/*.po (Debian's gettext; not committed)
messages:
	scripts/compile-messages.sh

## run: the application on its embedded default (SQLite, memory notifier, a simulated cluster)
run: venv var/secret_key messages
	SECRET_KEY=$$(cat var/secret_key) scripts/run-dev.sh

## test: everything the suite needs (services, browser, the real kube-apiserver and the container image: built
## when missing, a failed build fails), lint, then the whole suite including the contract suite against simulator
## and kube-apiserver and the image run with buildah
test: venv messages kube-apiserver image
	scripts/install-browser.sh
	eval "$$(scripts/test-services.sh)" && $(VENV)/bin/ruff check . && \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

## kube-apiserver: build the real kube-apiserver once (cached under ~/.cache/kubenode/); a failed build fails
kube-apiserver:
	scripts/kube-apiserver.sh build

## image: the container image of this checkout (Debian bookworm base with mmdebstrap, cached under
## ~/.cache/kubenode/; the Dockerfile built with buildah); a no-op when it exists; a failed build fails
image:
	scripts/image.sh build

## test-contract: the contract suite against the simulator and the real kube-apiserver
test-contract: venv kube-apiserver
	eval "$$(scripts/test-services.sh)" && $(VENV)/bin/pytest -m contract tests/contract $(PYTEST_ARGS)

## apiserver-run: a real kube-apiserver seeded with Ready nodes, imported as cluster "kube-apiserver"
## (with a loop finishing evicted pods, as kubelets would); then `make run` serves the application with it
apiserver-run: venv kube-apiserver var/secret_key
	scripts/kube-apiserver.sh stop var/kube-apiserver
	scripts/kube-apiserver.sh start var/kube-apiserver
	$(PY) -m tests.contract.seed var/kube-apiserver 3
	nohup $(PY) -m tests.contract.seed var/kube-apiserver --kubelet >var/kube-apiserver/kubelet.log 2>&1 &
	export DEBUG=true SECRET_KEY=$$(cat var/secret_key) && $(PY) manage.py migrate --noinput -v 0 && \
		$(PY) manage.py cluster_import --name kube-apiserver var/kube-apiserver/kubeconfig && \
		$(PY) manage.py cluster_check kube-apiserver
	@echo "kube-apiserver running; 'make run' serves kubenode with it; stop: scripts/kube-apiserver.sh stop var/kube-apiserver"

## bench: all benchmarks; prints a table, writes BENCHMARKS.md and bench/results/latest.json
bench: venv
	$(PY) -m bench.run

## bench-quick: a short smoke version of the benchmarks (under two minutes)
bench-quick: venv
	$(PY) -m bench.run --quick

## screenshots: docs/screenshots/*.png from the simulated demo cluster, taken by chromium (shown in the README)
screenshots: venv messages
	scripts/install-browser.sh
	$(PY) scripts/screenshots.py

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/static var/test-services
