"""syslogd.py - a stand-in syslog daemon for the tests: binds an AF_UNIX
datagram socket at PATH (mode 0666, like /dev/log) and appends every
datagram to OUT as one line (a newline inside one written as \\n), flushed
at once.  Once bound it creates OUT.ready.  It runs until killed.

usage: syslogd.py PATH OUT
"""
import os
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(out, 'ab', buffering=0) as f:
        open(out + '.ready', 'w').close()
        while True:
            d = s.recv(65536)
            f.write(d.replace(b'\n', b'\\n') + b'\n')


if __name__ == '__main__':
    main()
