# switchboard: build, run, test, install.
#
#   make            build switchboardd, sbctl and sbbench into build/
#   make run        install missing packages, build, run on conf/switchboard.conf
#   make check      install missing packages, build, run every test
#   make install    PREFIX=/usr/local DESTDIR=  (make uninstall: the same)
#   make man        remake man/switchboard.conf.5 from the option table

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
SYSCONFDIR	?= /etc
DESTDIR		?=
PYTHON		?= /usr/bin/python3
# No behaviour test may hang CI: each is cut off after this many seconds.
PYTEST		 = $(PYTHON) -m pytest -q -p no:cacheprovider --timeout=600

CC		?= cc
PKGS		:= libevent libzmq libconfig yajl sqlite3 libcurl libcrypto \
		   libsystemd \
		   libbsd-overlay
PKG_CFLAGS	 = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN		:= -std=c11 -Wall -Wextra -Werror
CFLAGS		?= -O2 -g
SB_CFLAGS	 = $(WARN) $(CFLAGS) -D_GNU_SOURCE -Iinclude -Idaemon \
		   $(PKG_CFLAGS) $(EXTRA_CFLAGS)
SB_LDLIBS	 = $(PKG_LIBS) -lm $(EXTRA_LDFLAGS)
# The daemon's allocator (docs/PERFORMANCE.md, "The allocator"): mimalloc,
# first on the link line so that SQLite's, yajl's and libzmq's mallocs
# take it too. Not under a sanitizer, whose own allocator does the
# checking; MALLOC_LIBS= builds with glibc's.
MALLOC_LIBS	?= $(if $(findstring sanitize,$(EXTRA_LDFLAGS)),,-lmimalloc)

# BUILD is the output directory; the sanitizer build uses build-asan/.
BUILD		?= build
SAN_FLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined

DAEMON_SRCS	:= $(sort $(wildcard daemon/*.c))
LIB_SRCS	:= $(filter-out daemon/main.c,$(DAEMON_SRCS))
LIB_OBJS	:= $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS	:= $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS	:= $(UNIT_SRCS:%.c=$(BUILD)/%)
# sbctl report's modules (tools/report*.c), linked into sbctl only.
REPORT_OBJS	:= $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tools/report*.c)))
TOOLS		:= $(BUILD)/sbctl $(if $(wildcard tools/sbbench.c),$(BUILD)/sbbench)

.PHONY: all deps run check unit behaviour asan-behaviour bench install \
	uninstall clean format
all: $(BUILD)/switchboardd $(TOOLS)

deps:
	@tools/install-deps

$(BUILD)/%.o: %.c $(wildcard daemon/*.h include/*.h tools/*.h tests/unit/*.h) | $(BUILD)/daemon $(BUILD)/tools $(BUILD)/tests/unit
	$(CC) $(SB_CFLAGS) -c -o $@ $<

$(BUILD)/daemon $(BUILD)/tools $(BUILD)/tests/unit:
	@mkdir -p $@

$(BUILD)/libsb.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/switchboardd: $(BUILD)/daemon/main.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(MALLOC_LIBS) $(SB_LDLIBS)

$(BUILD)/sbctl: $(BUILD)/tools/sbctl.o $(REPORT_OBJS) $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS)

$(BUILD)/bench_deadlines: $(BUILD)/tools/bench_deadlines.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS)

# Issue 4's benchmark: 1,000,000 pending interactive deadlines.
.PHONY: bench-deadlines
bench-deadlines: $(BUILD)/bench_deadlines
	$(BUILD)/bench_deadlines 1000000

$(BUILD)/sbbench: $(BUILD)/tools/sbbench.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS) -lpthread

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS) -lcmocka

# test_report tests sbctl report's modules, which are not in libsb.a.
$(BUILD)/tests/unit/test_report.o: SB_CFLAGS += -Itools
$(BUILD)/tests/unit/test_report: $(BUILD)/tests/unit/test_report.o \
    $(REPORT_OBJS) $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS) -lcmocka

run: deps all
	@mkdir -p var
	$(BUILD)/switchboardd -f -c conf/switchboard.conf

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) behaviour
	$(MAKE) asan-behaviour
	$(MAKE) fuzz-replay
	$(MAKE) fuzz-ci

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Each test file in a pytest process of its own: no file can leave the
# next ones a process worn by its sockets, threads or environment.
BEHAVIOUR	:= $(sort $(wildcard tests/behaviour/test_*.py))
RUN_FILES	 = fail=0; for f in $(1); do \
		    $(PYTEST) $$f || fail=1; done; exit $$fail
RUN_BEHAVIOUR	 = $(call RUN_FILES,$(BEHAVIOUR))

behaviour: all
	SB_BUILD=$(BUILD) sh -c '$(RUN_BEHAVIOUR)'

asan-behaviour:
	$(MAKE) BUILD=build-asan EXTRA_CFLAGS="$(SAN_FLAGS)" \
	    EXTRA_LDFLAGS="$(SAN_FLAGS)" CFLAGS="-O1 -g" all unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	SB_BUILD=build-asan sh -c '$(RUN_BEHAVIOUR)'

# Fuzzing (docs/RELIABILITY.md). tests/fuzz/fuzz_NAME.c is a libFuzzer
# harness of one parser of outside input; tests/fuzz/corpus/NAME/ its seeds
# (real and hostile samples, and every input that ever crashed it), and
# tests/fuzz/NAME.dict its dictionary, if any.
#   make fuzz-replay  each corpus through its harness, built with replay.c
#                     instead of libFuzzer, under ASan/UBSan (make check)
#   make fuzz         clang, -fsanitize=fuzzer,address,undefined: each
#                     harness for FUZZ_SECONDS; new inputs go to
#                     FUZZ_WORK/NAME/, crashes to build-fuzz/crashes/
#   make fuzz-ci      make fuzz for FUZZ_CI_SECONDS each, its new inputs
#                     kept in build-fuzz/ so that CI writes nothing into
#                     tests/ (make check)
FUZZ_NAMES	:= $(patsubst tests/fuzz/fuzz_%.c,%,\
		   $(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS	?= 60
FUZZ_CI_SECONDS	?= 10
FUZZ_WORK	?= tests/fuzz/corpus-work
FUZZ_CC		?= clang
FUZZ_FLAGS	:= -fsanitize=fuzzer-no-link,address,undefined \
		   -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_ENV	:= ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		   LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp

.PHONY: fuzz fuzz-ci fuzz-replay valgrind
$(BUILD)/tests/fuzz/%.o: tests/fuzz/%.c $(wildcard daemon/*.h include/*.h)
	@mkdir -p $(@D)
	$(CC) $(SB_CFLAGS) -c -o $@ $<

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o \
    $(BUILD)/tests/fuzz/replay.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS)

$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(SB_LDLIBS)

fuzz-replay:
	$(MAKE) BUILD=build-asan EXTRA_CFLAGS="$(SAN_FLAGS)" \
	    EXTRA_LDFLAGS="$(SAN_FLAGS)" CFLAGS="-O1 -g" \
	    $(FUZZ_NAMES:%=build-asan/tests/fuzz/replay_%)
	@set -e; for n in $(FUZZ_NAMES); do \
	    $(FUZZ_ENV) build-asan/tests/fuzz/replay_$$n tests/fuzz/corpus/$$n; \
	done

fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) CFLAGS="-O1 -g" \
	    EXTRA_CFLAGS="$(FUZZ_FLAGS)" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" \
	    $(FUZZ_NAMES:%=build-fuzz/tests/fuzz/fuzz_%)
	@set -e; mkdir -p build-fuzz/crashes; for n in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_WORK)/$$n; dict=; \
	    [ -f tests/fuzz/$$n.dict ] && dict=-dict=tests/fuzz/$$n.dict; \
	    echo "== fuzz_$$n: $(FUZZ_SECONDS)s"; \
	    $(FUZZ_ENV) build-fuzz/tests/fuzz/fuzz_$$n $$dict \
	        -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	        -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/crashes/$$n- $(FUZZ_ARGS) \
	        $(FUZZ_WORK)/$$n tests/fuzz/corpus/$$n; \
	done

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS) \
	    FUZZ_WORK=build-fuzz/corpus-work

# memcheck (docs/RELIABILITY.md): the daemons of these behaviour tests,
# which between them reach every module, run under valgrind; an invalid
# access or a definite leak makes one exit 99 and fails its test. Each
# file in a pytest process of its own, as in behaviour. Not part of check
# (about eight minutes); valgrind is not in tools/install-deps.
VALGRIND_TESTS	?= test_anonymous.py test_bounds.py test_breaker.py \
		   test_channels.py test_curve.py test_envelope_errors.py \
		   test_privdrop.py test_routing.py test_spool.py \
		   test_status.py test_webhook.py
# Its own build, with glibc's malloc: memcheck replaces malloc, free and
# realloc, not mimalloc's reallocarray (valgrind 3.19).
valgrind:
	@command -v valgrind >/dev/null || { echo "valgrind: not" \
	    "installed (apt-get install valgrind)"; exit 1; }
	$(MAKE) BUILD=build-valgrind MALLOC_LIBS= all
	SB_VALGRIND=1 SB_BUILD=build-valgrind \
	    sh -c '$(call RUN_FILES,$(VALGRIND_TESTS:%=tests/behaviour/%))'

# make install: PREFIX, DESTDIR and SYSCONFDIR as above, and these.
MANDIR		?= $(PREFIX)/share/man
LIBEXECDIR	?= $(PREFIX)/libexec
DOCDIR		?= $(PREFIX)/share/doc/switchboard
UNITDIR		?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d
CONFDIR		 = $(SYSCONFDIR)/switchboard
# Fixed by the unit's StateDirectory= and RuntimeDirectory=.
STATEDIR	:= /var/lib/switchboard
RUNDIR		:= /run/switchboard
MAN_PAGES	:= man/sbctl.1 man/switchboard.conf.5 \
		   man/switchboard-protocol.7 man/switchboardd.8
EXAMPLES	:= $(notdir $(wildcard conf/examples/*.conf))
CLIENTS		:= publisher.c publisher.py publisher.sh publisher.js
STAGE		 = $(BUILD)/install
# The unit and tmpfiles name /usr/local/sbin and /etc/switchboard, the
# defaults; installed, they name where things went.
UNIT_SED	 = -e 's|/usr/local/sbin/|$(SBINDIR)/|g' \
		   -e 's|/etc/switchboard/|$(CONFDIR)/|g'
# conf/switchboard.conf is written for `make run` in the source tree; the
# installed default keeps its state, sockets and example command where the
# unit has them.
CONF_SED	 = -e 's|"ipc://var/|"ipc://$(RUNDIR)/|g' \
		   -e 's|"var/switchboard.sock"|"$(RUNDIR)/switchboard.sock"|g' \
		   -e 's|"var/|"$(STATEDIR)/|g' \
		   -e 's|"conf/deliver-example.sh"|"$(LIBEXECDIR)/switchboard/deliver-example.sh"|g'

install: all
	@mkdir -p $(STAGE)
	sed $(UNIT_SED) systemd/switchboard.service > $(STAGE)/switchboard.service
	sed $(UNIT_SED) systemd/switchboard.tmpfiles > $(STAGE)/switchboard.tmpfiles
	{ echo "# Installed by make install from conf/switchboard.conf," \
	    "with paths"; echo "# made absolute for the systemd unit:" \
	    "state in $(STATEDIR),"; echo "# sockets in $(RUNDIR)."; \
	    sed $(CONF_SED) conf/switchboard.conf; } > $(STAGE)/switchboard.conf
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBEXECDIR)/switchboard $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/clients \
	    $(DESTDIR)$(CONFDIR) $(addprefix $(DESTDIR)$(MANDIR)/man,1 5 7 8)
	install -m 0755 $(BUILD)/switchboardd $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	install -m 0755 conf/deliver-example.sh \
	    $(DESTDIR)$(LIBEXECDIR)/switchboard/
	for p in $(MAN_PAGES); do \
	    install -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/ || exit 1; \
	done
	install -m 0644 $(STAGE)/switchboard.service $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/switchboard.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/switchboard.conf
	install -m 0644 $(STAGE)/switchboard.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/switchboard.conf
	install -m 0644 $(addprefix conf/examples/,$(EXAMPLES)) \
	    $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 docs/clients.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(addprefix docs/clients/,$(CLIENTS)) \
	    $(DESTDIR)$(DOCDIR)/clients/
	@if [ -e $(DESTDIR)$(CONFDIR)/switchboard.conf ]; then \
	    echo "install: kept the existing" \
	        "$(DESTDIR)$(CONFDIR)/switchboard.conf"; \
	else \
	    echo "install -m 0640 $(STAGE)/switchboard.conf" \
	        "$(DESTDIR)$(CONFDIR)/"; \
	    install -m 0640 $(STAGE)/switchboard.conf $(DESTDIR)$(CONFDIR)/; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
	    echo "install: next, as root: systemd-sysusers;" \
	        "systemd-tmpfiles --create switchboard.conf;" \
	        "systemctl daemon-reload;" \
	        "systemctl enable --now switchboard"; \
	fi

# Everything install put there but the config, the spool and the user.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/switchboardd $(DESTDIR)$(BINDIR)/sbctl \
	    $(DESTDIR)$(BINDIR)/sbbench \
	    $(DESTDIR)$(LIBEXECDIR)/switchboard/deliver-example.sh \
	    $(DESTDIR)$(UNITDIR)/switchboard.service \
	    $(DESTDIR)$(SYSUSERSDIR)/switchboard.conf \
	    $(DESTDIR)$(TMPFILESDIR)/switchboard.conf \
	    $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(EXAMPLES)) \
	    $(DESTDIR)$(DOCDIR)/clients.md \
	    $(addprefix $(DESTDIR)$(DOCDIR)/clients/,$(CLIENTS))
	for p in $(notdir $(MAN_PAGES)); do \
	    rm -f $(DESTDIR)$(MANDIR)/man$${p##*.}/$$p; \
	done
	for d in $(LIBEXECDIR)/switchboard $(DOCDIR)/examples \
	    $(DOCDIR)/clients $(DOCDIR); do \
	    rmdir $(DESTDIR)$$d 2>/dev/null || true; \
	done
	@echo "uninstall: kept $(DESTDIR)$(CONFDIR)/switchboard.conf," \
	    "$(STATEDIR) (the spool) and the user switchboard"

# switchboard.conf(5)'s OPTIONS and docs/config.md's option table are made
# from config.c's option table: run `make docs` after changing an option
# (test_config and test_deployment.py check both).
.PHONY: man docs
docs: man $(BUILD)/tests/unit/test_config
	-@$(BUILD)/tests/unit/test_config >/dev/null 2>&1
	@if [ -f build/config-options.md ]; then \
	    $(PYTHON) tools/splice-options.py docs/config.md \
	    build/config-options.md && rm -f build/config-options.md; fi

man: $(BUILD)/sbconfdoc
	$(BUILD)/sbconfdoc man/switchboard.conf.5.in > $(BUILD)/switchboard.conf.5
	mv $(BUILD)/switchboard.conf.5 man/switchboard.conf.5

$(BUILD)/sbconfdoc: $(BUILD)/tools/sbconfdoc.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS)

format:
	clang-format -i daemon/*.c daemon/*.h include/*.h tools/*.c

clean:
	rm -rf build build-asan build-fuzz build-valgrind

# The standard sbbench scenarios, 3 runs each: medians into
# docs/PERFORMANCE.md (a few minutes; see docs/sbbench.md).
bench: all
	SB_BUILD=$(BUILD) PYTHON=$(PYTHON) tools/bench.sh

# Instructions per accepted notice under callgrind, and the profile.
.PHONY: bench-callgrind
bench-callgrind: all
	SB_BUILD=$(BUILD) PYTHON=$(PYTHON) tools/bench-callgrind.sh

# Issue 7's memory target: the daemon's peak RSS with 1,000,000
# interactive notices accepted and all waiting for their ack (4h).
.PHONY: bench-pending
bench-pending: all
	SB_BUILD=$(BUILD) $(BUILD)/sbbench -n 1000000 -m interactive=100 \
	    --no-baseline --timeout 600
