#!/usr/bin/env python3
"""spoolfill.py SPOOL COUNT SIZE UID GID: writes COUNT deferred messages of
SIZE octets straight into SPOOL/queue/XX (ID.msg and ID.env, owned by
UID:GID, mode 0600), as committed messages look after a long outage of
the next hop: one attempt made, the next one an hour away, expiry in five
days.  For make bench's full-queue row: the queue process must find,
verify (size and SHA-256) and schedule every one of them at its start.

IDs follow queue/queue_id.c (time in microseconds << 12, folder = its
131 ms slice modulo 256), received evenly over an hour two hours ago, so
every ID the daemon makes later is greater.  The spool's folders must exist (a first start makes
them).  Files are not synced: the bench drops nothing from the page cache
and only needs them readable.
"""
import hashlib
import os
import sys
import time


def qfolder(qid):
    """queue/XX of an ID: queue_id_folder() of queue/queue_id.c."""
    return (int(qid, 16) >> 29) & 0xFF


def main(argv):
    if len(argv) != 6:
        sys.exit("usage: spoolfill.py SPOOL COUNT SIZE UID GID")
    spool, count, size, uid, gid = (argv[1], int(argv[2]), int(argv[3]),
                                    int(argv[4]), int(argv[5]))
    now = int(time.time())
    # Received evenly over the hour before now.
    base = (now - 7200) * 1000000
    step = 3600 * 1000000 // max(count, 1)
    for i in range(count):
        qid = '%016X' % ((base + i * step) << 12)
        d = os.path.join(spool, 'queue', '%02X' % qfolder(qid))
        body = ('From: <fill@bench.test>\r\nTo: <rcpt%d@deferred.test>\r\n'
                'Subject: deferred %d\r\n\r\n' % (i, i)).encode()
        body += b'x' * 76 + b'\r\n'
        while len(body) < size:
            body += b'y' * 76 + b'\r\n'
        body = body[:size]
        env = ('strictmail-envelope 2\nid %s\narrival %d\nsize %d\n'
               'digest sha256:%s\nsender <fill@bench.test>\n'
               'helo bench.test\nclient 127.0.0.1\nprotocol ESMTP\n'
               'attempts 1\nnext-attempt %d\nexpiry %d\n'
               'rcpt pending <rcpt%d@deferred.test>\n'
               'rcpt-error connect: Connection refused\nend\n'
               % (qid, now - 3600, len(body),
                  hashlib.sha256(body).hexdigest(), now + 3600,
                  now + 5 * 86400, i))
        for name, data in ((qid + '.msg', body), (qid + '.env',
                                                   env.encode())):
            p = os.path.join(d, name)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fchown(fd, uid, gid)
            finally:
                os.close(fd)


if __name__ == '__main__':
    main(sys.argv)
