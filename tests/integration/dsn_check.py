"""dsn_check - checks a delivery status notification as received by an MX.

Python 3 standard library only.

  dsn_check.py FILE [--subject TEXT] [--ret full|hdrs]
               [--rcpt ADDR:ACTION[:STATUS]]...

FILE is the message as delivered (CRLF or LF lines; a leading Received:
or Return-Path: added by the receiver is fine).  Checks: multipart/report
with report-type (global-)delivery-status; three parts: text/plain, a
(global-)delivery-status report, the original (message/rfc822 or
message/global with --ret full, else text/rfc822-headers or
message/global-headers); Auto-Submitted: auto-replied; a Reporting-MTA
field; for each --rcpt, a recipient group with that Final-Recipient,
Action and Status.  Prints the problems and exits 1 if there are any;
prints "ok" and exits 0 otherwise.
"""

import argparse
import email
import email.policy
import sys


def status_groups(part):
    """Per-message fields and recipient groups, as lists of dicts."""
    if part.is_multipart():
        # The parser made messages of the groups: their text again (as
        # bytes first: a global report carries raw UTF-8).
        text = '\n'.join(sub.as_bytes().decode('utf-8', 'replace')
                         for sub in part.get_payload())
    else:
        raw = part.get_payload(decode=True) or b''
        text = raw.decode('utf-8', 'replace')
    text = text.replace('\r\n', '\n')
    text = text.replace('\n ', ' ').replace('\n\t', ' ')
    groups = []
    for block in text.strip('\n').split('\n\n'):
        fields = {}
        for line in block.split('\n'):
            if ':' in line:
                k, v = line.split(':', 1)
                fields[k.strip()] = v.strip()
        groups.append(fields)
    return groups


def check(data, args):
    problems = []
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    if msg.get_content_type() != 'multipart/report':
        return ['Content-Type is %s' % msg.get_content_type()]
    if msg.get_param('report-type') not in ('delivery-status',
                                            'global-delivery-status'):
        problems.append('report-type is %s' % msg.get_param('report-type'))
    if (msg.get('Auto-Submitted') or '').strip() != 'auto-replied':
        problems.append('Auto-Submitted is %r' % msg.get('Auto-Submitted'))
    if args.subject and (msg.get('Subject') or '').strip() != args.subject:
        problems.append('Subject is %r' % msg.get('Subject'))
    parts = msg.get_payload()
    types = [p.get_content_type() for p in parts]
    if len(parts) != 3:
        return problems + ['%d parts: %s' % (len(parts), types)]
    if types[0] != 'text/plain':
        problems.append('part 1 is %s' % types[0])
    if types[1] not in ('message/delivery-status',
                        'message/global-delivery-status'):
        problems.append('part 2 is %s' % types[1])
    want = {'full': ('message/rfc822', 'message/global'),
            'hdrs': ('text/rfc822-headers', 'message/global-headers')}
    if args.ret and types[2] not in want[args.ret]:
        problems.append('part 3 is %s, wanted %s' % (types[2],
                                                      want[args.ret]))
    groups = status_groups(parts[1])
    if not groups or 'Reporting-MTA' not in groups[0]:
        problems.append('no Reporting-MTA in %r' % groups[:1])
    rcpts = {g.get('Final-Recipient', '').split(';', 1)[-1].strip().lower():
             g for g in groups[1:]}
    for spec in args.rcpt or []:
        addr, action, *status = spec.split(':')
        g = rcpts.get(addr.lower())
        if g is None:
            problems.append('no group for %s in %s' % (addr, list(rcpts)))
            continue
        if g.get('Action', '').lower() != action.lower():
            problems.append('%s: Action %r' % (addr, g.get('Action')))
        if status and g.get('Status') != status[0]:
            problems.append('%s: Status %r' % (addr, g.get('Status')))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('file')
    ap.add_argument('--subject')
    ap.add_argument('--ret', choices=('full', 'hdrs'))
    ap.add_argument('--rcpt', action='append')
    args = ap.parse_args()
    with open(args.file, 'rb') as f:
        problems = check(f.read(), args)
    for p in problems:
        print('dsn_check: %s' % p)
    if problems:
        sys.exit(1)
    print('ok')


if __name__ == '__main__':
    main()
