#!/bin/bash
# t-29-sample-conf: the sample configuration etc/strictmail.conf shows
# every keyword of common/config.c; each commented "#keyword value" that
# stands for a default equals the default strictmail.conf(5) states; the
# sample parses as it is, and with every one of those lines uncommented.
. "$(dirname "$0")/lib.sh"
t_init
sample=$SM_TOP/etc/strictmail.conf
man=$SM_TOP/daemon/strictmail.conf.5

# The keywords the parser knows: the first string of each table row.
sed -n '/config_keywords\[\] = {/,/^};/p' "$SM_TOP/common/config.c" |
    sed -nE 's/^[[:space:]]*\{ "([a-z-]+)",.*/\1/p' > "$T_DIR/keywords"
[ "$(wc -l < "$T_DIR/keywords")" -ge 20 ] ||
    t_fail "the keyword table read from common/config.c" "$(wc -l < "$T_DIR/keywords") keywords"
while read -r kw; do
	grep -qE "^#?$kw[[:space:]]" "$sample" ||
	    t_fail "etc/strictmail.conf shows '$kw'" "no line"
	grep -q "^\.It Cm $kw " "$man" ||
	    t_fail "strictmail.conf(5) describes '$kw'" "no .It Cm $kw"
done < "$T_DIR/keywords"
say "all $(wc -l < "$T_DIR/keywords") keywords in the sample and the man page: ok"

# "Default: VALUE." of each keyword in the man page, where it is one token.
awk '/^\.It Cm / { kw = $3; next }
    kw != "" && /^Default: [^ ]+\.$/ { v = $2; sub(/\.$/, "", v); print kw, v; kw = "" }' \
    "$man" > "$T_DIR/mandefaults"
n=0
while read -r kw val; do
	got=$(sed -nE "s/^#$kw[[:space:]]+([^[:space:]]+)\$/\1/p" "$sample" | head -n 1)
	[ -n "$got" ] && [ "$val" != none ] || continue	# no default, or set
	[ "${got,,}" = "${val,,}" ] ||
	    t_fail "the sample's '#$kw' shows the default $val (strictmail.conf(5))" "$got"
	n=$((n + 1))
done < "$T_DIR/mandefaults"
[ "$n" -ge 15 ] || t_fail "at least 15 single-value defaults compared" "$n"
say "$n commented defaults equal strictmail.conf(5): ok"

# As it is, and with the first commented line of each keyword uncommented.
"$SM_BIN" -T -f "$sample" > "$T_DIR/t1.log" 2>&1 ||
    t_fail "the sample parses" "$(cat "$T_DIR/t1.log")"
awk 'match($0, /^#[a-z-]+[ \t]/) { kw = substr($0, 2, RLENGTH - 2)
	if (!(kw in seen) && kw != "tls-certificate" && kw != "tls-key") {
		seen[kw] = 1; print substr($0, 2); next } }
    { print }' "$sample" > "$T_DIR/uncommented.conf"
"$SM_BIN" -T -f "$T_DIR/uncommented.conf" > "$T_DIR/t2.log" 2>&1 ||
    t_fail "the sample parses with its defaults uncommented" "$(cat "$T_DIR/t2.log")"
diff -u "$T_DIR/t1.log" "$T_DIR/t2.log" > "$T_DIR/t.diff" ||
    t_fail "the same spool table with the defaults written out" "$(cat "$T_DIR/t.diff")"
say "sample parses, also with $(grep -c . <(diff "$sample" "$T_DIR/uncommented.conf" | grep '^>')) defaults uncommented: ok"
t_pass
