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
	libnetfilter_conntrack libnetfilter_log
DEB_PKGS := build-essential pkg-config libzmq3-dev liblmdb-dev \
	libprotobuf-c-dev protobuf-c-compiler libnftnl-dev libmnl-dev \
	libuv1-dev libnetfilter-conntrack-dev libnetfilter-log-dev \
	nftables conntrack iproute2 python3 procps curl clang libclang-rt-14-dev \
	libmicrohttpd-dev keepalived conntrackd

ifeq ($(V),1)
Q :=
else
Q := @
endif

pc = $(shell $(PKG_CONFIG) --cflags --libs $(1) 2>/dev/null)

PROTO_C := $(BUILD)/phalanx.pb-c.c
LIB_SRC := lib/px.c lib/addr.c lib/limit.c lib/policy.c lib/wire.c \
	lib/codec.c lib/ratelog.c lib/keys.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/phalanx.pb-c.o
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
	$(Q)$(CC) $(CFLAGS) $(PX_CFLAGS) -c $< -o $@

$(BUILD)/phalanx.pb-c.o: $(BUILD)/phalanx.pb-c.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -std=c11 -I$(BUILD) -c $< -o $@

$(BUILD)/phalanx-store: $(STORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/node/alert.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq lmdb libprotobuf-c libmicrohttpd) -lpthread

$(BUILD)/phalanx-node: $(NODE_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl libuv libnetfilter_conntrack libnetfilter_log)

$(BUILD)/phalanxctl: $(CTL_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c)

# Unit tests link the pure logic of the member (no I/O files).
UNIT_NODE := $(patsubst %.c,$(BUILD)/%.o,$(wildcard node/seq.c node/quota.c node/pressure_level.c node/alert.c node/outbox.c node/fwlog.c node/gate.c))

# ... and the store's LMDB file, run on a database in a temporary directory.
UNIT_STORE := $(BUILD)/store/db.o $(BUILD)/store/dbfit.o $(BUILD)/store/alerts.o \
	$(BUILD)/store/auth.o

$(BUILD)/unit-tests: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(UNIT_NODE) $(UNIT_STORE) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c lmdb)

$(BUILD)/nftload: $(BUILD)/tests/bench/nftload.o $(BUILD)/node/nft.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl)

$(BUILD)/nftcount: $(BUILD)/tests/tools/nftcount.o $(BUILD)/node/nft.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl)

# A raw sync/ctl peer of the store for the lab tests.
$(BUILD)/pxpeer: $(BUILD)/tests/tools/pxpeer.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c)

# The lab's traffic generator: libc only.
$(BUILD)/pxgen: $(wildcard tests/gen/*.c) $(wildcard tests/gen/*.h)
	@mkdir -p $(BUILD)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $(filter %.c,$^)

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
FUZZ_SRC := $(LIB_SRC) node/alert.c node/outbox.c
FUZZ_OBJ := $(FUZZ_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/phalanx.pb-c.o

$(BUILD)/fuzz/obj/%.o: %.c $(BUILD)/phalanx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PX_CFLAGS) $(FUZZ_WARN) -c $< -o $@

$(BUILD)/fuzz/obj/phalanx.pb-c.o: $(BUILD)/phalanx.pb-c.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -std=c11 -I$(BUILD) -c $< -o $@

$(BUILD)/fuzz/%: $(BUILD)/fuzz/obj/tests/fuzz/%.o $(FUZZ_OBJ)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ \
		$(call pc,libzmq libprotobuf-c)

fuzz: $(FUZZ)
.PRECIOUS: $(BUILD)/fuzz/obj/%.o

# Regenerate the fuzz seed corpora (checked in) from the encoders.
$(BUILD)/fuzz-seeds: $(BUILD)/tests/fuzz/seeds.o $(BUILD)/node/alert.o $(BUILD)/node/outbox.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c)

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

# Install build and test dependencies from Debian (root).
deps:
	@if [ -n "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(DEB_PKGS) 2>/dev/null | grep -v '^ii' ; \
		dpkg-query -W $(DEB_PKGS) >/dev/null 2>&1 || echo missing)" ]; then \
		echo "  DEPS    apt-get install"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $(DEB_PKGS); \
	fi

check: deps
	$(MAKE) all fuzz asan $(BUILD)/unit-tests $(BUILD)/nftcount $(BUILD)/pxgen $(BUILD)/pxpeer
	tests/run

lab: deps all $(BUILD)/pxgen $(BUILD)/nftcount
	tests/lab/lab up

bench: deps all $(BUILD)/nftload $(BUILD)/pxgen
	tests/bench/run

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(BUILD)/phalanx-store $(BUILD)/phalanx-node $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/phalanxctl $(DESTDIR)$(BINDIR)/

clean:
	rm -rf $(BUILD)

.PHONY: all deps check lab bench fuzz fuzz-seeds asan install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
