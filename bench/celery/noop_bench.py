"""Celery's drain rate for the consumer-runtime comparison: a no-op task with
acks_late=True on a quorum queue of the same RabbitMQ, the same prefetch in total
(worker_prefetch_multiplier x concurrency), the queue filled before the worker starts.

    python3 bench/celery/noop_bench.py --broker amqp://guest:guest@127.0.0.1:5672/<vhost> \
        --messages 20000 --prefetch 32 --results bench/results

The clock starts when the worker takes its first message and stops when the queue has
no ready message left; the at most `prefetch` messages still unacknowledged then are
within the run's noise (0.2% of 20,000). Celery >= 5.5 turns off global QoS by itself
on quorum queues (worker_detect_quorum_queues).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from celery import Celery
from kombu import Connection, Queue

QUEUE = "bench-celery"

app = Celery("noop_bench", broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest@127.0.0.1//"))
app.conf.update(
    task_queues=[Queue(QUEUE, queue_arguments={"x-queue-type": "quorum"}, durable=True)],
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(acks_late=True, ignore_result=True)
def noop():
    return None


def ready(conn):
    channel = conn.channel()
    try:
        return channel.queue_declare(QUEUE, passive=True).message_count
    finally:
        channel.close()


def stop(worker):
    """Stops the worker and its pool processes. A cold shutdown (SIGQUIT): the queue is
    drained by then, and Celery 5.7's warm shutdown on a quorum queue waits for good."""
    for sig, grace in ((signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(worker.pid, sig)
        except ProcessLookupError:
            return
        try:
            worker.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--prefetch", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--results")
    args = parser.parse_args()
    app.conf.broker_url = args.broker

    with Connection(args.broker) as conn:
        Queue(QUEUE, queue_arguments={"x-queue-type": "quorum"}, durable=True)(conn.default_channel).declare()
        with app.producer_or_acquire() as producer:
            for _ in range(args.messages):
                noop.apply_async(producer=producer)
        while ready(conn) < args.messages:
            time.sleep(0.05)

        multiplier = max(1, args.prefetch // args.concurrency)
        env = dict(os.environ, CELERY_BROKER_URL=args.broker)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "noop_bench", "worker", "-Q", QUEUE,
             "--pool", "prefork", "--concurrency", str(args.concurrency),
             "--prefetch-multiplier", str(multiplier),
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
            cwd=os.path.dirname(os.path.abspath(__file__)), env=env, start_new_session=True,
            stdout=sys.stderr)  # its banner is not part of the results
        try:
            while ready(conn) >= args.messages:
                if worker.poll() is not None:
                    sys.exit("the Celery worker exited before taking a message")
                time.sleep(0.005)
            started = time.monotonic()
            while ready(conn) > 0:
                time.sleep(0.01)
            seconds = time.monotonic() - started
        finally:
            stop(worker)
        channel = conn.channel()
        channel.queue_delete(QUEUE)
        channel.close()

    rate = args.messages / seconds
    name = f"Celery {args.concurrency} processes, acks_late"
    print(f"| {name} | {args.messages} | {multiplier * args.concurrency} | {rate:.0f} |")
    if args.results:
        os.makedirs(args.results, exist_ok=True)
        row = {"consumer": name, "messages": args.messages,
               "prefetch": multiplier * args.concurrency, "per_second": rate}
        with open(os.path.join(args.results, "celery.json"), "w") as f:
            json.dump({"consumers": [row]}, f, indent=2)


if __name__ == "__main__":
    main()
