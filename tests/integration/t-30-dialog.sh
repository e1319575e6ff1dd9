#!/bin/bash
# t-30-dialog: every SMTP dialogue script tests/dialog/*.dlg (raw bytes out,
# expected replies in; the format is in tests/dialog/dialog.py) against a
# live strictmaild with listeners for smtp (25), submission (587) and
# implicit TLS (465), a certificate from the test CA (tests/pki), the
# relay network 127.0.0.1/32 and a second client address 127.0.0.2.
# Scripts that need other settings say so with "@config" lines; scripts
# with the same settings share one daemon (and its spool).  Prints PASS or
# FAIL per script, with expected and got; fails if any script failed.
#   DLG=name   runs only the scripts whose file name contains name.
# Runs once, unprivileged, with leak detection: the dialogue is the
# receiver's and does not depend on the mode (t-10, t-11, t-13 and t-31
# run sessions against the privilege-separated daemon).
# long: a minute or more; starts before the short tests
. "$(dirname "$0")/lib.sh"
[ "$SM_PRIV" = 0 ] || t_skip "checked once, with SM_PRIV=0 (the dialogue does not depend on the mode)"
t_init

dlgdir=$SM_TOP/tests/dialog
pki=$T_DIR/pki
sm_pki "$pki"
ip -n "$T_NS" addr add 127.0.0.2/32 dev lo ||
    t_fail "127.0.0.2 on lo in $T_NS" "an error"

base=("hostname mx.example.test"
      "listen 127.0.0.1 25 smtp"
      "listen 127.0.0.1 587 submission"
      "listen 127.0.0.1 465 tls"
      "tls-certificate $pki/valid.pem"
      "tls-key $pki/valid.key"
      "relay-network 127.0.0.1/32"
      "local-domain mx.example.test localhost example.test")

# The settings of a script, one a line, in file order.
dlg_config() {
	sed -n 's/^@config[ \t]\{1,\}//p' "$1"
}

# Groups of scripts by their settings.
declare -A groups=()
keys=()
for f in "$dlgdir"/*.dlg; do
	[ -f "$f" ] || continue
	[ -n "${DLG:-}" ] && [[ $(basename "$f") != *"$DLG"* ]] && continue
	k="settings:$(dlg_config "$f")"
	[ -n "${groups[$k]+x}" ] || keys+=("$k")
	groups[$k]="${groups[$k]:-} $f"
done
[ "${#keys[@]}" -gt 0 ] || t_fail "dialogue scripts in $dlgdir" "none"

npass=0
nfail=0
failed=()
g=0
for k in "${keys[@]}"; do
	g=$((g + 1))
	spool=$T_DIR/spool$g
	conf=$T_DIR/strictmail$g.conf
	log=$T_DIR/daemon$g.log
	extra=()
	settings=${k#settings:}
	if [ -n "$settings" ]; then
		mapfile -t extra <<<"$settings"
	fi
	# A keyword a script sets replaces the base line(s) with that keyword.
	directives=()
	for d in "${base[@]}"; do
		kw=${d%% *}
		keep=1
		for e in "${extra[@]}"; do [ "${e%% *}" = "$kw" ] && keep=0; done
		[ "$keep" = 1 ] && directives+=("$d")
	done
	directives+=("${extra[@]}")
	sm_config "$conf" "$spool" "${directives[@]}"
	say "group $g: ${settings:-base settings}" | tr '\n' ';'
	echo
	sm_start "$conf" "$log"
	if ! sm_wait_ready "$log" "$SM_PID" 30; then
		why=$(grep -m 3 -E 'strictmail|error|fatal' "$log" | tr '\n' '|')
		for f in ${groups[$k]}; do
			nfail=$((nfail + 1))
			failed+=("$(basename "$f")")
			echo "FAIL $(basename "$f"): expected strictmaild to start with: ${settings//$'\n'/; }, got: ${why:-no ready line}"
		done
		sm_stop "$SM_PID" 10
		continue
	fi
	# shellcheck disable=SC2086
	out=$(sm_py_fg "$dlgdir/dialog.py" --ca "$pki/ca.pem" --spool "$spool" \
	    ${groups[$k]} 2>&1)
	printf '%s\n' "$out"
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) npass=$((npass + 1)) ;;
		"FAIL "*) nfail=$((nfail + 1)); n=${line#FAIL }; failed+=("${n%%:*}") ;;
		esac
	done <<<"$out"
	if ! sm_stop "$SM_PID" 30; then
		nfail=$((nfail + 1))
		failed+=("exit of group $g")
		echo "FAIL group $g: expected exit within 30 s of SIGTERM, got still running"
	fi
done

say "$npass script(s) passed, $nfail failed"
[ "$nfail" = 0 ] || t_fail "every dialogue script to pass" "failures in: ${failed[*]}"
t_pass
