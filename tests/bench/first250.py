#!/usr/bin/env python3
"""first250.py ADDR T0: connects to ADDR:25 until it can (every 10 ms),
sends one small message and prints the seconds from T0 (a time.time()
value: the server's start) to its 250, or "failed(CODE)".  make bench's
full-queue figure."""
import smtplib
import sys
import time

addr, t0 = sys.argv[1], float(sys.argv[2])
while True:
    try:
        s = smtplib.SMTP(addr, 25, timeout=60, local_hostname='bench.test')
        break
    except OSError:
        time.sleep(0.01)
s.ehlo()
s.mail('sender@bench.test')
s.rcpt('root@localhost')
code, _ = s.data(b'Subject: first\r\n\r\nfirst after the start\r\n')
t = time.time()
s.quit()
print('%.2f' % (t - t0) if code == 250 else 'failed(%d)' % code)
