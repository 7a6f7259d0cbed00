"""moto's server on 127.0.0.1:PORT, taking one request at a time.

DynamoDB applies each conditional write and each transaction atomically; moto's
backend does not lock, so two concurrent TransactWriteItems can both pass their
conditions. Serialising requests gives moto DynamoDB's atomicity, and the ledger's
condition expressions are what decides the race, as on AWS. Connections are still
served on their own threads (keep-alive does not block other clients).

Usage: moto_dynamodb.py PORT
"""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main(port):
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple("127.0.0.1", port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(int(sys.argv[1]))
