# strictmail - build, test, run, install.
# Honours CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR (cross builds, staged installs).

CC      ?= cc
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc/strictmail
SPOOLDIR ?= /var/spool/strictmail
QUEUE_USER ?= _sm-queue

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wpointer-arith -Wcast-qual
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -I. $(CFLAGS)
LIBS    = -lmbedtls -lmbedx509 -lmbedcrypto -lidn2 -lpthread

SRCS_LIB = $(wildcard common/*.c) $(wildcard queue/*.c) $(wildcard smtpd/*.c) \
           $(wildcard lookup/*.c) $(filter-out daemon/main.c,$(wildcard daemon/*.c))
HDRS     = $(wildcard */*.h)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)

B       = build
BA      = build-asan
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined

.PHONY: all asan run test test-unit test-integration bench fuzz install clean

all: $(B)/strictmaild

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libstrictmail.a: $(SRCS_LIB:%.c=$(B)/%.o)
	rm -f $@ && ar rcs $@ $^

$(B)/strictmaild: $(B)/daemon/main.o $(B)/libstrictmail.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/unit/%: tests/unit/%.c $(B)/libstrictmail.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libstrictmail.a -lcmocka $(LIBS)

unit-bins: $(UNIT_SRCS:%.c=$(B)/%)

# The sanitizer build: same sources, its own folder.
asan:
	$(MAKE) B=$(BA) CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
	    $(BA)/strictmaild unit-bins

# deps-build: what building and running need (etc/deps-build.sh; a normal
# user is told the apt-get command).  deps: that and what the tests need,
# with the servers they run unpacked into build-deps/ (tests/deps.sh).
.PHONY: deps deps-build
deps-build:
	sh etc/deps-build.sh

deps:
	sh tests/deps.sh

run: deps-build all
	sh etc/run-local.sh $(B)/strictmaild $(RUNFLAGS)

test: deps
	bash tests/run-tests.sh

test-unit: asan
	bash tests/run-tests.sh unit

test-integration: asan
	bash tests/run-tests.sh integration

bench: deps all
	bash tests/bench/bench.sh

# Fuzz targets (libFuzzer): the sources they need compiled again with
# clang and -fsanitize=fuzzer-no-link,address,undefined into build-fuzz/.
# "make fuzz" runs each for FUZZ_TIME seconds from its seed corpus
# (tests/fuzz/corpus/<target>/); findings land in build-fuzz/crashes/.
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 300
FZ            = build-fuzz
FUZZ_TARGETS  = fuzz_session fuzz_address fuzz_envelope fuzz_config fuzz_ipc
FUZZ_SRCS     = common/buf.c common/util.c common/config.c common/proto.c \
                common/ipc.c common/event.c common/digest.c queue/envelope.c queue/queue_id.c \
                smtpd/smtp_parse.c smtpd/smtp_session.c smtpd/smtp_reply.c smtpd/dataread.c \
                tests/fuzz/fuzz_stubs.c
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -I. $(filter-out -Werror,$(WARN)) \
                -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined

.PHONY: fuzz-bins fuzz-clean
.SECONDARY: $(FUZZ_SRCS:%.c=$(FZ)/obj/%.o)

$(FZ)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FZ)/%: tests/fuzz/%.c $(FUZZ_SRCS:%.c=$(FZ)/obj/%.o) $(HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_SRCS:%.c=$(FZ)/obj/%.o) $(LIBS)

fuzz-bins: $(FUZZ_TARGETS:%=$(FZ)/%)

fuzz: fuzz-bins
	bash tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FZ)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(B)/strictmaild $(DESTDIR)$(SBINDIR)/strictmaild
	install -m 0644 daemon/strictmaild.8 $(DESTDIR)$(MANDIR)/man8/strictmaild.8
	install -m 0644 daemon/strictmail.conf.5 $(DESTDIR)$(MANDIR)/man5/strictmail.conf.5
	test -e $(DESTDIR)$(SYSCONFDIR)/strictmail.conf || \
	    install -m 0644 etc/strictmail.conf $(DESTDIR)$(SYSCONFDIR)/strictmail.conf
	sh etc/install-spool.sh $(B)/strictmaild "$(DESTDIR)$(SPOOLDIR)" $(QUEUE_USER)

# build-deps/ holds what tests/deps.sh unpacks (OpenSMTPD for the test
# world); "make deps" fills it again.
clean:
	rm -rf $(B) $(BA) build-fuzz build-deps
