# strictmail - build, test, run, install.
# Honours CC, CPPFLAGS, CFLAGS, LDFLAGS, PREFIX, DESTDIR (cross builds,
# staged installs, dpkg-buildflags).

CC      ?= cc
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc/strictmail
SPOOLDIR ?= /var/spool/strictmail
UNITDIR ?= $(PREFIX)/lib/systemd/system
QUEUE_USER ?= _sm-queue
DELIVERY_USER ?= _sm-delivery

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wpointer-arith -Wcast-qual
# Optimised for size: the hot paths are the kernel's and mbedTLS's, and
# -Os with no unwind tables (C has no exceptions; -g keeps .debug_frame
# for debuggers) makes the stripped programs 28% smaller than -O2 (make
# bench prints their size).
CFLAGS  ?= -Os -g -fno-asynchronous-unwind-tables -fno-unwind-tables
# CPPFLAGS (dpkg-buildflags puts -D_FORTIFY_SOURCE there) is in every
# compile line, through ALL_CFLAGS.  Each function and object in a
# section of its own, and --gc-sections at the link: a program carries
# only the parts of libstrictmail.a it calls (strictmailctl and
# strictmail-postdrop link the same library as the daemon).
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -I. $(CPPFLAGS) $(WARN) $(CFLAGS) \
             -ffunction-sections -fdata-sections
# libcurl is not linked: the delivery process loads it at run time
# (sts/sts_fetch.c; dlopen is in glibc's libc since 2.34).  --as-needed:
# a program depends only on the libraries it calls.
LIBS    = -Wl,--gc-sections -Wl,--as-needed -lmbedtls -lmbedx509 -lmbedcrypto -lcares -ldb -lidn2 -lpthread -lcrypt
# The installed programs store their relative relocations packed (DT_RELR,
# binutils 2.38 and glibc 2.36 or later): 20 KiB less of the 500 (make
# bench prints their size).  Probed, so that an older tool chain links
# as before.
RELR := $(shell f=$$(mktemp) && printf 'int main(void){return 0;}\n' | \
          $(CC) -x c - -o "$$f" -Wl,--fatal-warnings \
          -Wl,-z,pack-relative-relocs >/dev/null 2>&1 && \
          echo -Wl,-z,pack-relative-relocs; rm -f "$$f")

SRCS_LIB = $(wildcard common/*.c) $(wildcard queue/*.c) $(wildcard smtpd/*.c) \
           $(wildcard lookup/*.c) $(wildcard delivery/*.c) $(wildcard sts/*.c) \
           $(filter-out ctl/strictmailctl.c ctl/postdrop.c,$(wildcard ctl/*.c)) \
           $(filter-out daemon/main.c,$(wildcard daemon/*.c))
HDRS     = $(wildcard */*.h)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)

B       = build
BA      = build-asan
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined

.PHONY: all asan run test test-unit test-integration bench bench-relay bench-sts fuzz install clean

all: $(B)/strictmaild $(B)/strictmailctl $(B)/strictmail-postdrop \
     $(B)/tests/tools/sts-fetch-probe \
     $(B)/tests/tools/local-deliver $(B)/tests/tools/lmtp-send \
     $(B)/tests/tools/creds-check $(B)/tests/bench/smtpload

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libstrictmail.a: $(SRCS_LIB:%.c=$(B)/%.o)
	rm -f $@ && ar rcs $@ $^

$(B)/strictmaild: $(B)/daemon/main.o $(B)/libstrictmail.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(RELR) -o $@ $^ $(LIBS)

$(B)/strictmailctl: $(B)/ctl/strictmailctl.o $(B)/libstrictmail.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(RELR) -o $@ $^ $(LIBS)

# Local submission (ctl/ctl_sendmail.h): the paths compiled into sendmail
# and into the setgid helper strictmail-postdrop (group MAILDROP_GROUP),
# which takes no path from its caller.
MAILDROP_GROUP ?= _sm-drop
SM_PATH_DEFS = -DSM_SYSCONFDIR='"$(SYSCONFDIR)"' -DSM_SBINDIR='"$(SBINDIR)"'
$(B)/ctl/ctl_sendmail.o $(B)/ctl/postdrop.o: ALL_CFLAGS += $(SM_PATH_DEFS)

$(B)/strictmail-postdrop: $(B)/ctl/postdrop.o $(B)/libstrictmail.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(RELR) -o $@ $^ $(LIBS)

$(B)/tests/unit/%: tests/unit/%.c $(B)/libstrictmail.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libstrictmail.a -lcmocka $(LIBS)

unit-bins: $(UNIT_SRCS:%.c=$(B)/%)

# Test tools run by integration tests (sts-fetch-probe: t-51;
# local-deliver: one local delivery agent from the command line;
# lmtp-send: t-60; creds-check: a password against a credentials map, t-39).
$(B)/tests/tools/%: tests/tools/%.c $(B)/libstrictmail.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libstrictmail.a $(LIBS)

# make bench's load client (tests/bench/smtpload.c).
$(B)/tests/bench/smtpload: tests/bench/smtpload.c $(B)/libstrictmail.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libstrictmail.a $(LIBS)

# The sanitizer build: same sources, its own folder.
asan:
	$(MAKE) B=$(BA) CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
	    $(BA)/strictmaild $(BA)/strictmailctl $(BA)/strictmail-postdrop unit-bins $(BA)/tests/tools/sts-fetch-probe \
	    $(BA)/tests/tools/local-deliver $(BA)/tests/tools/lmtp-send \
	    $(BA)/tests/tools/creds-check

# deps-build: what building and running need (etc/deps-build.sh; a normal
# user is told the apt-get command).  deps: that and what the tests need,
# with the servers they run unpacked into build-deps/ (tests/deps.sh).
.PHONY: deps deps-build deps-bench
deps-build:
	sh etc/deps-build.sh

deps:
	sh tests/deps.sh

# What make bench needs besides (gnuplot-nox for the chart).
deps-bench:
	sh tests/deps.sh --bench

run: deps-build all
	sh etc/run-local.sh $(B)/strictmaild $(RUNFLAGS)

test: deps
	bash tests/run-tests.sh

test-unit: asan
	bash tests/run-tests.sh unit

test-integration: asan
	bash tests/run-tests.sh integration

# make bench QUICK=1: few messages, one repeat, fewer rows, no relay or
# MTA-STS part (tests/bench/bench.sh says what each mode measures).
# The relay (at 10 and at 50 sessions) and MTA-STS tables are appended to
# bench/results.md after the acceptance table.  The relay runs first: the
# acceptance part ends by removing a spool of over 120,000 messages and a 3 GiB
# file, and the relay run after it (after a 10 s settle) measured
# strictmail, which syncs, at half its speed on a settled disk and
# chasquid, which does not, at four fifths (1.19x against 1.65x).
bench: deps-bench all
	rm -f $(B)/bench-relay.md
	if [ "$(QUICK)" != 1 ] && [ "$${BENCH_RELAY:-1}" != 0 ]; then \
	    BENCH_APPEND=$(B)/bench-relay.md bash tests/bench/relay.sh && \
	    BENCH_APPEND=$(B)/bench-relay.md BENCH_RELAY_SESSIONS=50 bash tests/bench/relay.sh; fi
	BENCH_QUICK=$(QUICK) bash tests/bench/bench.sh
	if [ -f $(B)/bench-relay.md ]; then \
	    cat $(B)/bench-relay.md >> $${BENCH_RESULTS:-bench/results.md}; fi
	if [ "$(QUICK)" != 1 ] && [ "$${BENCH_STS:-1}" != 0 ]; then \
	    BENCH_APPEND=$${BENCH_RESULTS:-bench/results.md} bash tests/bench/sts.sh; fi

# Relaying through strictmail to a fast sink, beside chasquid
# (tests/bench/relay.sh); BENCH_RELAY=0 leaves it out of make bench.
bench-relay: deps-bench all
	bash tests/bench/relay.sh

# Delivery to 200 MTA-STS enforce domains with a cold and a warm policy
# cache (tests/bench/sts.sh); BENCH_STS=0 leaves it out of make bench.
bench-sts: deps-bench all
	bash tests/bench/sts.sh

# Fuzz targets (libFuzzer): the sources they need compiled again with
# clang and -fsanitize=fuzzer-no-link,address,undefined into build-fuzz/.
# "make fuzz" runs each for FUZZ_TIME seconds from its seed corpus
# (tests/fuzz/corpus/<target>/); findings land in build-fuzz/crashes/.
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 300
FZ            = build-fuzz
FUZZ_TARGETS  = fuzz_session fuzz_address fuzz_envelope fuzz_config fuzz_ipc \
                fuzz_smtpc_reply fuzz_ctl
FUZZ_SRCS     = common/buf.c common/util.c common/config.c common/proto.c \
                common/ipc.c common/event.c common/digest.c queue/envelope.c queue/queue_id.c \
                smtpd/smtp_parse.c smtpd/smtp_session.c smtpd/smtp_reply.c smtpd/dataread.c smtpd/sasl.c \
                tests/fuzz/fuzz_stubs.c common/logfmt.c delivery/smtpc_reply.c delivery/smtpc.c \
                ctl/ctl_proto.c
# MTA-STS: the TXT record and policy parsers (sts/).
FUZZ_TARGETS += fuzz_sts_txt fuzz_sts_policy
FUZZ_SRCS    += sts/sts_txt.c sts/sts_policy.c
# MTA-STS: the cache record (sts_record.c parses its policy text again).
FUZZ_TARGETS += fuzz_sts_record
FUZZ_SRCS    += sts/sts_record.c sts/sts_state.c
# Local delivery: the aliases and virtual map source parser (lookup/).
FUZZ_TARGETS += fuzz_aliases
FUZZ_SRCS    += lookup/aliases.c
# Local submission: the sendmail(8) message canonicalizer (ctl/).
FUZZ_TARGETS += fuzz_submit_msg
FUZZ_SRCS    += ctl/submit_msg.c
# Local submission: the maildrop file reader (queue/).
FUZZ_TARGETS += fuzz_maildrop
FUZZ_SRCS    += queue/maildrop_parse.c
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -I. $(CPPFLAGS) $(filter-out -Werror,$(WARN)) \
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

# The systemd unit with this installation's paths.
$(B)/strictmaild.service: etc/strictmaild.service.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@SPOOLDIR@|$(SPOOLDIR)|g' etc/strictmaild.service.in > $@.tmp.$$$$ && \
	    mv $@.tmp.$$$$ $@

# The installed configuration names a SPOOLDIR other than the built-in
# default (the sample shows that one commented).
SPOOL_SED = $(if $(filter /var/spool/strictmail,$(SPOOLDIR)),,-e 's|^\#spool\([[:space:]]\)|spool\1|')

# The man pages get the version of the binary in .Os, when it has one.
# Temporary files carry the shell's PID: two installs from one tree (the
# tests run several at once) never share one.
install: all $(B)/strictmaild.service
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/strictmaild $(DESTDIR)$(SBINDIR)/strictmaild
	install -m 0755 $(B)/strictmailctl $(DESTDIR)$(SBINDIR)/strictmailctl
	ln -sf strictmailctl $(DESTDIR)$(SBINDIR)/mailq
	ln -sf strictmailctl $(DESTDIR)$(SBINDIR)/newaliases
	$(MAKE) install-postdrop
	v=$$($(B)/strictmaild -V 2>/dev/null | sed -n '1s/^[^0-9]*\([0-9][^ ]*\).*/\1/p'); \
	for m in daemon/strictmaild.8:man8 daemon/strictmail.conf.5:man5 \
	    ctl/strictmailctl.8:man8 ctl/sendmail.8:man8; do \
	    sed "s/^\.Os strictmail\$$/.Os strictmail$${v:+ $$v}/" $${m%:*} > $(B)/man.tmp.$$$$ && \
	    install -m 0644 $(B)/man.tmp.$$$$ $(DESTDIR)$(MANDIR)/$${m#*:}/$$(basename $${m%:*}) || \
	    { rm -f $(B)/man.tmp.$$$$; exit 1; }; \
	done; rm -f $(B)/man.tmp.$$$$
	install -m 0644 $(B)/strictmaild.service $(DESTDIR)$(UNITDIR)/strictmaild.service
	test -e $(DESTDIR)$(SYSCONFDIR)/strictmail.conf || \
	    sed -e 's|/etc/strictmail/|$(SYSCONFDIR)/|g' $(SPOOL_SED) \
	        -e 's|/var/spool/strictmail|$(SPOOLDIR)|g' etc/strictmail.conf | \
	    install -m 0644 /dev/stdin $(DESTDIR)$(SYSCONFDIR)/strictmail.conf
	sh etc/install-spool.sh $(B)/strictmaild "$(DESTDIR)$(SPOOLDIR)" $(QUEUE_USER) $(DELIVERY_USER)

# The setgid helper, root:MAILDROP_GROUP 2755 (the group is created when
# missing; a staged install as non-root gets the mode, not the owner).
# sendmail links in /usr/sbin and /usr/lib (mailq and newaliases are
# beside strictmailctl) only into
# DESTDIR (a package) or with SENDMAIL_LINKS=1, never over a file that is
# not already a link to strictmailctl (another package's).
.PHONY: install-postdrop
install-postdrop: $(B)/strictmail-postdrop
	install -d $(DESTDIR)$(SBINDIR)
	if [ "$$(id -u)" = 0 ] && [ -z "$(DESTDIR)" ] && \
	    ! getent group $(MAILDROP_GROUP) >/dev/null; then \
	    groupadd --system $(MAILDROP_GROUP); fi
	install -m 2755 $(B)/strictmail-postdrop $(DESTDIR)$(SBINDIR)/strictmail-postdrop
	if [ "$$(id -u)" = 0 ] && getent group $(MAILDROP_GROUP) >/dev/null; then \
	    chown root:$(MAILDROP_GROUP) $(DESTDIR)$(SBINDIR)/strictmail-postdrop && \
	    chmod 2755 $(DESTDIR)$(SBINDIR)/strictmail-postdrop; \
	else echo "strictmail-postdrop: set its group to $(MAILDROP_GROUP) (chown root:$(MAILDROP_GROUP), chmod 2755) when installing"; fi
	if [ -n "$(DESTDIR)" ] || [ "$(SENDMAIL_LINKS)" = 1 ]; then \
	    for l in sbin/sendmail lib/sendmail; do \
	        t=$(DESTDIR)/usr/$$l; \
	        if [ -e "$$t" ] || [ -L "$$t" ]; then \
	            case $$(readlink "$$t") in */strictmailctl|strictmailctl) ;; \
	            *) echo "not replacing $$t (not ours)"; continue ;; esac; \
	        fi; \
	        install -d $$(dirname "$$t") && ln -sf $(SBINDIR)/strictmailctl "$$t"; \
	    done; \
	fi

# build-deps/ holds what tests/deps.sh unpacks (OpenSMTPD for the test
# world); "make deps" fills it again.
clean:
	rm -rf $(B) $(BA) build-fuzz build-deps
