#!/usr/bin/env python3
"""A controllable SMTP sink for tests (aiosmtpd).

Stores each accepted message as <dir>/<n>.eml (written then renamed, so a reader never
sees half a file). Recipients choose the server's answer by their local part:
  ...+tempfail@...  answered 451 at RCPT the first time, accepted afterwards;
  ...+reject@...    always answered 550.
While a file named "refuse" exists in DIR, every MAIL FROM is answered 451 (a server
refusing for a while).
Usage: smtp_sink.py --port PORT --dir DIR
"""

import argparse
import itertools
import os
import signal
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)
        self.tempfailed = set()
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if os.path.exists(os.path.join(self.directory, "refuse")):
            return "451 4.3.2 not accepting messages right now"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.endswith("+reject"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local.endswith("+tempfail"):
            with self.lock:
                first = address not in self.tempfailed
                self.tempfailed.add(address)
            if first:
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = next(self.counter)
        path = os.path.join(self.directory, "%05d.eml" % n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK stored"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
