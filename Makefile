# The two commands: `make run` serves on the embedded default, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Browser tests (tests/browser/): Debian's chromium driven by Playwright, and axe-core from the npm registry.
AXE_VERSION := 4.14.1
AXE := .cache/axe-core-$(AXE_VERSION)/axe.min.js
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-fast lint audit bench bench-detail venv clean browser-deps catalogs i18n-update redis-cluster pg-replica

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Message catalogs (docs/i18n.md), two gettext domains: `messages` (error messages, the N_("...") texts
# in code) and `catalogue` (the service catalogue's texts, from its sample data: locales/extract_catalogue.py).
# Each locales/<language>/LC_MESSAGES/<domain>.po is compiled into the git-ignored .mo the server loads.
# `make i18n-update` brings each .pot and its .po files up to the sources; translators then fill the new
# and fuzzy entries of zh_Hant and en.
CATALOGS := $(wildcard locales/*/LC_MESSAGES/messages.po locales/*/LC_MESSAGES/catalogue.po)
I18N_SOURCES := app api health_code elderly_mode

locales/%.mo: locales/%.po | $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

catalogs: $(CATALOGS:.po=.mo)

i18n-update: $(STAMP)
	$(BIN)/pybabel extract --no-default-keywords -k N_ -k NC_:1c,2 --add-location=file --no-wrap \
		--project=gov-app --copyright-holder=gov-app -o locales/messages.pot $(I18N_SOURCES)
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-wrap --previous --ignore-obsolete
	$(BIN)/python locales/mirror_source.py
	$(BIN)/python locales/extract_catalogue.py extract
	$(BIN)/pybabel update -i locales/catalogue.pot -d locales -D catalogue --no-wrap --previous --ignore-obsolete
	$(BIN)/python locales/mirror_source.py catalogue
	$(BIN)/python locales/extract_catalogue.py departments

# axe-core, pinned, unpacked into a git-ignored folder (npm pack needs no package.json of ours).
$(AXE):
	@if ! command -v npm >/dev/null; then echo "no npm: axe-core not fetched, the accessibility test is skipped"; exit 0; fi; \
	mkdir -p .cache/axe-pack $(dir $(AXE)) && \
	(cd .cache/axe-pack && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null) && \
	tar -xzf .cache/axe-pack/axe-core-$(AXE_VERSION).tgz -C $(dir $(AXE)) --strip-components=1 package/axe.min.js package/LICENSE && \
	rm -rf .cache/axe-pack

# Debian's chromium when it is missing and we may install it (CI runs as root); otherwise the
# browser tests say why they are skipped. Playwright's own browser download is never used.
# With it a CJK font (Noto Sans CJK), or the page would show empty boxes for every Chinese character.
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
browser-deps: $(AXE)
	@if [ ! -x $(CHROMIUM) ] || [ ! -f $(CJK_FONT) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
				|| echo "chromium could not be installed: the browser tests will be skipped"; \
		else echo "no $(CHROMIUM) or CJK font and not root: apt-get install chromium fonts-noto-cjk (browser tests skip without chromium)"; fi; \
	fi

run: $(STAMP) catalogs
	$(BIN)/python -m standins --with-app

# ruff; the layers (.importlinter: api -> domains -> core, a domain through another's service only); the core's types.
lint: $(STAMP)
	$(BIN)/ruff check app api health_code elderly_mode miniprogram_mock standins tests bench
	PYTHONPATH=. $(BIN)/lint-imports --no-cache .importlinter
	$(BIN)/mypy

# The suite runs on every core (pytest-xdist), a test file per worker at a time; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: lint browser-deps catalogs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The tests that need no server, database or process of their own (marker `unit`, see tests/conftest.py), in one
# process: seconds. `make test` runs them too, with the api, faults, fuzz and browser tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m unit -n 0 $(PYTEST_ARGS)

# The Redis tests once more, on a Redis Cluster of 3 primaries and 3 replicas started from the machine's
# redis-server (.ci/redis-cluster: loopback ports 7000-7005, a temporary directory, stopped afterwards): the
# cache and its near cache; the API tests whose paths read or count several keys at once (sessions, home
# cards, breakers, payload digests, one-time codes, rate limits) or claim a one-time marker (client JWT jti,
# voucher device proofs, payment notices, mini-program bind tickets, social security card QR checks); several
# workers on one cluster (logins, near-cache invalidations of a client and of the trust list, /metrics); then
# alone the test that fails a primary over. Left out: tests/faults/test_redis_outage.py, whose fault proxy
# fronts one node while the cluster client reaches the others straight from the slot map, so it cannot cut
# Redis (a lost primary is test_redis_cluster.py's); and files that take only Redis paths a listed file takes
# already (voucher presentation, token attacks, the partner API), to keep this pass short.
REDIS_CLUSTER_TESTS := tests/core/test_cache.py tests/core/test_near_cache.py \
	tests/health_code/test_renewal_across_workers.py tests/accounts/test_login.py tests/accounts/test_tokens_and_sessions.py \
	tests/services/cards/test_home_cards.py tests/integrations/exchange tests/health_code/test_online_checks.py \
	tests/security/test_one_time_codes.py tests/security/test_brute_force.py \
	tests/api/test_department_clients.py tests/vouchers/test_voucher_security.py tests/payments/test_notices.py \
	tests/miniprogram/test_login.py tests/departments/test_social_security_card.py \
	tests/core/test_several_workers.py tests/health_code/interop/test_partner_registry.py tests/core/test_metrics_served.py
redis-cluster: $(STAMP) catalogs
	.ci/redis-cluster run sh -c '$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS) \
		$(REDIS_CLUSTER_TESTS) && $(BIN)/python -m pytest -n 0 $(PYTEST_ARGS) tests/core/test_redis_cluster.py'

# The read replica's tests on a real streaming replica: a PostgreSQL primary and its replica started from the
# machine's binaries (.ci/pg-replica: loopback ports 55432-55433, a temporary directory, stopped afterwards).
pg-replica: $(STAMP) catalogs
	.ci/pg-replica run $(BIN)/python -m pytest -n 0 $(PYTEST_ARGS) tests/core/test_replica.py

# Known vulnerabilities of every distribution in .venv, from PyPI's project JSON (latest release only: one behind
# latest is reported "not verifiable", exit 0 unless AUDIT_ARGS=--strict). Exit 1 vulnerable, 2 PyPI unreachable.
# Advisories judged not to apply, each with its reason, are in .ci/accepted-advisories.txt.
audit: $(STAMP)
	$(BIN)/python .ci/audit_deps.py --accepted .ci/accepted-advisories.txt $(AUDIT_ARGS)

# Every hot path on PostgreSQL + Redis, 1 and 2 workers, against a bare Sanic handler in the same run;
# writes bench/results/latest.json and latest.md.
# GETs are driven by h2load (Debian's nghttp2-client), installed here when missing and we may (CI and bench machines run as root).
bench: $(STAMP)
	@command -v h2load >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null); } || \
		echo "no h2load: GETs are driven by the asyncio load generator"
	$(BIN)/python -m bench.suite

# The older single-path benchmarks on the embedded default, with more detail each.
bench-detail: $(STAMP)
	$(BIN)/python -m bench.me_throughput
	$(BIN)/python -m bench.health_code_fetch
	$(BIN)/python -m bench.partner_verification
	$(BIN)/python -m bench.voucher_redemption
	$(BIN)/python -m bench.home_cards

clean:
	rm -rf $(VENV) .pytest_cache .cache
