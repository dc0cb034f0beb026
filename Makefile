# Phalanx - one hand-written Makefile.  `make V=1` shows commands.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
CC ?= gcc
PKG_CONFIG ?= pkg-config
BUILD ?= build
CFLAGS ?= -O2 -g
PX_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP \
	-Ilib -I$(BUILD) -Inode
PKGS := libzmq lmdb libprotobuf-c libnftnl libmnl libuv \
	libnetfilter_conntrack libnetfilter_log libnetfilter_queue yaml-0.1
DEB_PKGS := build-essential pkg-config libzmq3-dev liblmdb-dev \
	libprotobuf-c-dev protobuf-c-compiler libnftnl-dev libmnl-dev \
	libuv1-dev libnetfilter-conntrack-dev libnetfilter-log-dev \
	libnetfilter-queue-dev \
	nftables conntrack iproute2 python3 procps curl clang libclang-rt-14-dev \
	libmicrohttpd-dev keepalived conntrackd libyaml-dev python3-yaml \
	debhelper dpkg-dev fakeroot ansible-core ansible-lint openssh-server \
	python3-scapy systemd

ifeq ($(V),1)
Q :=
else
Q := @
endif

# pkg-config for every dependency, run when a recipe needs it (so `make
# deps` and `make clean` work without the packages).  Its own message
# names a missing package; make then stops instead of compiling without.
pkgconf = $(strip $(eval pkgconf_out := $(shell $(PKG_CONFIG) $(1) $(2))) \
	$(if $(filter 0,$(.SHELLSTATUS)),$(pkgconf_out), \
	$(error $(PKG_CONFIG) $(1) $(2) failed (`make deps` installs them))))
pc = $(call pkgconf,--libs,$(1))
# Computed once, at the first compile.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconf,--cflags,$(PKGS) libmicrohttpd))$(PKG_CFLAGS)

PROTO_C := $(BUILD)/phalanx.pb-c.c
LIB_SRC := lib/px.c lib/addr.c lib/limit.c lib/policy.c lib/wire.c \
	lib/codec.c lib/ratelog.c lib/keys.c lib/alert.c lib/csx.c lib/ids.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/phalanx.pb-c.o
# Shared by the two daemons, on their libuv loops (phalanxctl has none).
LIB_UV_OBJ := $(BUILD)/lib/watchdog.o
STORE_SRC := $(wildcard store/*.c)
NODE_SRC := $(wildcard node/*.c)
CTL_SRC := $(wildcard ctl/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)

BINS := $(BUILD)/phalanx-store $(BUILD)/phalanx-node $(BUILD)/phalanxctl

all: $(BINS)

$(BUILD)/phalanx.pb-c.c $(BUILD)/phalanx.pb-c.h: proto/phalanx.proto
	@mkdir -p $(BUILD)
	@echo "  PROTOC  $<"
	$(Q)protoc-c --c_out=$(BUILD) --proto_path=proto $<

$(BUILD)/%.o: %.c $(BUILD)/phalanx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PX_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/phalanx.pb-c.o: $(BUILD)/phalanx.pb-c.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -std=c11 -I$(BUILD) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/phalanx-store: $(STORE_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ) $(LIB_UV_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq lmdb libprotobuf-c libmicrohttpd libuv raft) -lpthread

$(BUILD)/phalanx-node: $(NODE_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ) $(LIB_UV_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl libuv libnetfilter_conntrack libnetfilter_log libnetfilter_queue lmdb)

$(BUILD)/phalanxctl: $(CTL_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c yaml-0.1)

# Unit tests link the pure logic of the member (no I/O files).
UNIT_NODE := $(patsubst %.c,$(BUILD)/%.o,$(wildcard node/seq.c node/quota.c node/pressure_level.c node/outbox.c node/fwlog.c node/gate.c node/layout.c node/delta.c node/state.c node/dns.c node/pop3.c node/canary.c))

# ... and the store's LMDB file, run on a database in a temporary directory.
UNIT_STORE := $(BUILD)/store/db.o $(BUILD)/store/dbfit.o $(BUILD)/store/alerts.o \
	$(BUILD)/store/auth.o $(BUILD)/store/protect.o $(BUILD)/store/raft.o \
	$(BUILD)/store/fsm.o $(BUILD)/store/versions.o $(BUILD)/store/config.o \
	$(BUILD)/store/canary.o
# waiters.c and members.c with ctl.c and sync.c stubbed
# (tests/unit/test_store_waiters.c, test_store_roles.c).
UNIT_STORE += $(BUILD)/store/waiters.o $(BUILD)/store/logring.o $(BUILD)/store/members.o

# The rule compiler encodes without a socket, so it is tested without root.
UNIT_NODE += $(BUILD)/node/compile.o

$(BUILD)/unit-tests: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(UNIT_NODE) $(UNIT_STORE) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c lmdb libnftnl libmnl libuv raft)

# The member's nftables files: kernel I/O, rule compiler, layout model.
NFT_OBJ := $(BUILD)/node/nft.o $(BUILD)/node/compile.o $(BUILD)/node/layout.o

$(BUILD)/nftload: $(BUILD)/tests/bench/nftload.o $(NFT_OBJ) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl)

# phalanxctl's steps timed one by one (tests/bench/ctlstart.sh).
$(BUILD)/ctlstart: $(BUILD)/tests/bench/ctlstart.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c)

# Acknowledged single adds from one process through phalanxctl's own
# client files (tests/bench/store_failover.sh).
$(BUILD)/tests/bench/storewrite.o: PX_CFLAGS += -Ictl
$(BUILD)/storewrite: $(BUILD)/tests/bench/storewrite.o \
		$(filter-out $(BUILD)/ctl/main.o,$(CTL_SRC:%.c=$(BUILD)/%.o)) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c yaml-0.1)

$(BUILD)/nftcount: $(BUILD)/tests/tools/nftcount.o $(NFT_OBJ) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl)

# A raw sync/ctl peer of the store for the lab tests.
$(BUILD)/pxpeer: $(BUILD)/tests/tools/pxpeer.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c)

# The store's Raft module alone, for tests/lab/t_raft.sh.
$(BUILD)/tests/tools/raftprobe.o: PX_CFLAGS += -Istore
$(BUILD)/raftprobe: $(BUILD)/tests/tools/raftprobe.o $(BUILD)/store/raft.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c lmdb libuv raft)

# The lab's traffic generator: libc only.
$(BUILD)/pxgen: $(wildcard tests/gen/*.c) $(wildcard tests/gen/*.h)
	@mkdir -p $(BUILD)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $(filter %.c,$^)

# Fuzz harnesses (libFuzzer, clang): `make fuzz` builds one per
# tests/fuzz/fuzz_NAME.c, then e.g. build/fuzz/fuzz_envelope
# -max_total_time=60 tests/fuzz/corpus/envelope.  `make check` runs each
# for a few seconds from its seed corpus (tests/run).  The library and the
# member's pure modules are compiled once into build/fuzz/obj.
FUZZ := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CC ?= clang
FUZZ_CFLAGS ?= -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
# clang's -Wextra also flags `{ "name", 1 }' initializers that gcc accepts.
FUZZ_WARN := -Wno-missing-field-initializers
FUZZ_SRC := $(LIB_SRC) node/outbox.c node/state.c
FUZZ_OBJ := $(FUZZ_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/phalanx.pb-c.o

$(BUILD)/fuzz/obj/%.o: %.c $(BUILD)/phalanx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PX_CFLAGS) $(PKG_CFLAGS) $(FUZZ_WARN) -c $< -o $@

$(BUILD)/fuzz/obj/phalanx.pb-c.o: $(BUILD)/phalanx.pb-c.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -std=c11 -I$(BUILD) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/%: $(BUILD)/fuzz/obj/tests/fuzz/%.o $(FUZZ_OBJ)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ \
		$(call pc,libzmq libprotobuf-c lmdb)

# fuzz_store runs the store's handlers: it links the store's files too.
$(BUILD)/fuzz/obj/tests/fuzz/fuzz_store.o: PX_CFLAGS += -Istore
FUZZ_STORE_OBJ := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(filter-out store/main.c,$(STORE_SRC)))
$(BUILD)/fuzz/fuzz_store: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_store.o $(FUZZ_STORE_OBJ) $(FUZZ_OBJ)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ \
		$(call pc,libzmq lmdb libprotobuf-c libmicrohttpd libuv raft) -lpthread

fuzz: $(FUZZ)
.PRECIOUS: $(BUILD)/fuzz/obj/%.o

# Regenerate the fuzz seed corpora (checked in) from the encoders.
$(BUILD)/fuzz-seeds: $(BUILD)/tests/fuzz/seeds.o $(BUILD)/node/outbox.o $(BUILD)/node/state.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c lmdb)

fuzz-seeds: $(BUILD)/fuzz-seeds
	$(BUILD)/fuzz-seeds tests/fuzz/corpus

# The daemons, nftcount and the unit tests under ASan+UBSan in
# $(BUILD)/asan; `make check` runs the unit tests and t_foundation.sh with
# them (tests/run).
ASAN_CFLAGS ?= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/asan CFLAGS="$(ASAN_CFLAGS)" \
		all $(BUILD)/asan/unit-tests $(BUILD)/asan/nftcount

# Install build and test dependencies from Debian (root).  C-Raft comes
# from bookworm-backports (0.22.1; bookworm's own 0.15.0 has a known safety
# bug, issue 9), enabled from the mirror apt is configured with.
BPO_PKGS := libraft-dev
BPO_RAFT := 0.22
deps:
	@if [ -n "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(DEB_PKGS) 2>/dev/null | grep -v '^ii' ; \
		dpkg-query -W $(DEB_PKGS) >/dev/null 2>&1 || echo missing)" ]; then \
		echo "  DEPS    apt-get install"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $(DEB_PKGS); \
	fi
	@case "$$(dpkg-query -W -f='$${Version}' libraft-dev 2>/dev/null)" in \
	$(BPO_RAFT).*) ;; \
	*) echo "  DEPS    $(BPO_PKGS) from bookworm-backports"; \
		sh deploy/apt-backports.sh && apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends -t bookworm-backports $(BPO_PKGS) ;; \
	esac

check: deps
	$(MAKE) all fuzz asan $(BUILD)/unit-tests $(BUILD)/nftcount $(BUILD)/pxgen $(BUILD)/pxpeer $(BUILD)/raftprobe
	tests/run

lab: deps all $(BUILD)/pxgen $(BUILD)/nftcount
	tests/lab/lab up

# What only the benchmarks use (tests/bench/forward.sh: iperf3).
BENCH_PKGS := iperf3

bench-deps: deps
	@dpkg-query -W -f='$${db:Status-Abbrev}' $(BENCH_PKGS) 2>/dev/null | grep -q '^ii' || { \
		echo "  DEPS    apt-get install $(BENCH_PKGS)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $(BENCH_PKGS); }

bench: bench-deps all $(BUILD)/nftload $(BUILD)/pxgen $(BUILD)/nftcount $(BUILD)/ctlstart $(BUILD)/storewrite
	tests/bench/run

# Binaries, man pages, systemd units (ExecStart under $(SBINDIR)), the
# keepalived/conntrackd templates and the example configs: the same files
# the Debian packages hold (deploy/debian/*.install split them).
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/phalanx
UNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR)/keepalived.service.d $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR)/keepalived $(DESTDIR)$(DATADIR)/examples
	install -m 0755 $(BUILD)/phalanx-store $(BUILD)/phalanx-node $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/phalanxctl $(DESTDIR)$(BINDIR)/
	install -m 0644 deploy/man/phalanxctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 deploy/man/phalanx.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 deploy/man/phalanx-store.8 deploy/man/phalanx-node.8 $(DESTDIR)$(MANDIR)/man8/
	for u in phalanx-store phalanx-node; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' deploy/systemd/$$u.service.in \
			>$(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 deploy/systemd/keepalived-dropin.conf \
		$(DESTDIR)$(UNITDIR)/keepalived.service.d/phalanx.conf
	install -m 0644 deploy/systemd/phalanx.tmpfiles $(DESTDIR)$(TMPFILESDIR)/phalanx.conf
	install -m 0644 deploy/systemd/phalanx.sysusers $(DESTDIR)$(SYSUSERSDIR)/phalanx.conf
	install -m 0644 deploy/keepalived/keepalived.conf.in deploy/keepalived/conntrackd.conf.in \
		$(DESTDIR)$(DATADIR)/keepalived/
	install -m 0755 deploy/keepalived/px-render deploy/keepalived/px-vrrp-notify \
		$(DESTDIR)$(DATADIR)/keepalived/
	install -m 0644 deploy/store.conf.example deploy/node.conf.example \
		deploy/phalanxctl.conf.example $(DESTDIR)$(DATADIR)/examples/

# Debian packages (debhelper, compat 13) into $(BUILD)/deb/, built from a
# copy of the tree in $(BUILD)/deb-src so the source tree stays clean.
# PX_DEB_VERSION=0.13.1 builds another version (an upgrade to test).
deb:
	rm -rf $(BUILD)/deb-src $(BUILD)/deb
	mkdir -p $(BUILD)/deb-src/phalanx $(BUILD)/deb
	git ls-files -z --cached --others --exclude-standard | \
		xargs -0 cp --parents -t $(BUILD)/deb-src/phalanx
	cp -r deploy/debian $(BUILD)/deb-src/phalanx/debian
	if [ -n "$(PX_DEB_VERSION)" ]; then sed -i '1s/([^)]*)/($(PX_DEB_VERSION))/' \
		$(BUILD)/deb-src/phalanx/debian/changelog; fi
	cd $(BUILD)/deb-src/phalanx && dpkg-buildpackage -b -us -uc -rfakeroot
	mv $(BUILD)/deb-src/*.deb $(BUILD)/deb-src/*.buildinfo $(BUILD)/deb-src/*.changes $(BUILD)/deb/
	@ls $(BUILD)/deb/*.deb

clean:
	rm -rf $(BUILD)

.PHONY: all deps bench-deps check lab bench fuzz fuzz-seeds asan install deb clean

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
