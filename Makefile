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
	lib/codec.c
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

$(BUILD)/unit-tests: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(UNIT_NODE) $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c)

$(BUILD)/nftload: $(BUILD)/tests/bench/nftload.o $(BUILD)/node/nft.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl)

$(BUILD)/nftcount: $(BUILD)/tests/tools/nftcount.o $(BUILD)/node/nft.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(call pc,libzmq libprotobuf-c libnftnl libmnl)

# The lab's traffic generator: libc only.
$(BUILD)/pxgen: $(wildcard tests/gen/*.c) $(wildcard tests/gen/*.h)
	@mkdir -p $(BUILD)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $(filter %.c,$^)

# Fuzz harnesses (libFuzzer, clang): `make fuzz` builds them, then e.g.
# build/fuzz/fuzz_envelope -max_total_time=60.  `make check` replays the
# seed corpus through them.
FUZZ := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_CC ?= clang
FUZZ_LIB := $(LIB_SRC) $(PROTO_C)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(BUILD)/phalanx.pb-c.h
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) -g -O1 -std=c11 -D_GNU_SOURCE -Ilib -I$(BUILD) \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB) \
		$(call pc,libzmq libprotobuf-c)

fuzz: $(FUZZ)

# Install build and test dependencies from Debian (root).
deps:
	@if [ -n "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(DEB_PKGS) 2>/dev/null | grep -v '^ii' ; \
		dpkg-query -W $(DEB_PKGS) >/dev/null 2>&1 || echo missing)" ]; then \
		echo "  DEPS    apt-get install"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $(DEB_PKGS); \
	fi

check: deps
	$(MAKE) all fuzz $(BUILD)/unit-tests $(BUILD)/nftcount $(BUILD)/pxgen
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

.PHONY: all deps check lab bench fuzz install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
