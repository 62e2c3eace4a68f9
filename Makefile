# switchboard: build, run, test, install.
#
#   make            build switchboardd, sbctl and sbbench into build/
#   make run        install missing packages, build, run on conf/switchboard.conf
#   make check      install missing packages, build, run every test
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
SYSCONFDIR	?= /etc
DESTDIR		?=
PYTHON		?= /usr/bin/python3

CC		?= cc
PKGS		:= libevent libzmq libconfig yajl sqlite3 libcurl libsystemd \
		   libbsd-overlay
PKG_CFLAGS	 = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN		:= -std=c11 -Wall -Wextra -Werror
CFLAGS		?= -O2 -g
SB_CFLAGS	 = $(WARN) $(CFLAGS) -D_GNU_SOURCE -Iinclude -Idaemon \
		   $(PKG_CFLAGS) $(EXTRA_CFLAGS)
SB_LDLIBS	 = $(PKG_LIBS) -lm $(EXTRA_LDFLAGS)

# BUILD is the output directory; the sanitizer build uses build-asan/.
BUILD		?= build
SAN_FLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined

DAEMON_SRCS	:= $(sort $(wildcard daemon/*.c))
LIB_SRCS	:= $(filter-out daemon/main.c,$(DAEMON_SRCS))
LIB_OBJS	:= $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS	:= $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS	:= $(UNIT_SRCS:%.c=$(BUILD)/%)
TOOLS		:= $(BUILD)/sbctl $(if $(wildcard tools/sbbench.c),$(BUILD)/sbbench)

.PHONY: all deps run check unit behaviour asan-behaviour bench install \
	uninstall clean format
all: $(BUILD)/switchboardd $(TOOLS)

deps:
	@tools/install-deps

$(BUILD)/%.o: %.c $(wildcard daemon/*.h include/*.h tests/unit/*.h) | $(BUILD)/daemon $(BUILD)/tools $(BUILD)/tests/unit
	$(CC) $(SB_CFLAGS) -c -o $@ $<

$(BUILD)/daemon $(BUILD)/tools $(BUILD)/tests/unit:
	@mkdir -p $@

$(BUILD)/libsb.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/switchboardd: $(BUILD)/daemon/main.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS)

$(BUILD)/sbctl: $(BUILD)/tools/sbctl.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS)

$(BUILD)/sbbench: $(BUILD)/tools/sbbench.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS) -lpthread

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsb.a
	$(CC) $(SB_CFLAGS) -o $@ $^ $(SB_LDLIBS) -lcmocka

run: deps all
	@mkdir -p var
	$(BUILD)/switchboardd -f -c conf/switchboard.conf

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) behaviour
	$(MAKE) asan-behaviour

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

behaviour: all
	SB_BUILD=$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider tests/behaviour

asan-behaviour:
	$(MAKE) BUILD=build-asan EXTRA_CFLAGS="$(SAN_FLAGS)" \
	    EXTRA_LDFLAGS="$(SAN_FLAGS)" CFLAGS="-O1 -g" all unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	SB_BUILD=build-asan $(PYTHON) -m pytest -q -p no:cacheprovider \
	    tests/behaviour

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(BUILD)/switchboardd $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(SYSCONFDIR)/switchboard
	test -e $(DESTDIR)$(SYSCONFDIR)/switchboard/switchboard.conf || \
	    install -m 0644 conf/switchboard.conf \
	    $(DESTDIR)$(SYSCONFDIR)/switchboard/switchboard.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/switchboardd $(DESTDIR)$(BINDIR)/sbctl \
	    $(DESTDIR)$(BINDIR)/sbbench

format:
	clang-format -i daemon/*.c daemon/*.h include/*.h tools/*.c

clean:
	rm -rf build build-asan

# The standard sbbench scenarios, 3 runs each: medians into
# docs/PERFORMANCE.md (a few minutes; see docs/sbbench.md).
bench: all
	SB_BUILD=$(BUILD) PYTHON=$(PYTHON) tools/bench.sh

# Instructions per accepted notice under callgrind, and the profile.
.PHONY: bench-callgrind
bench-callgrind: all
	SB_BUILD=$(BUILD) PYTHON=$(PYTHON) tools/bench-callgrind.sh
