#!/usr/bin/env python3
"""moto_server, with S3's conditional writes made atomic.

Real S3 checks a write's condition (`If-Match`, `If-None-Match`) and applies the write as one
step. moto checks, then writes, with no lock between, while its server answers requests on
many threads: two compare-and-swap writes from the same version can both succeed, and a
conformance test of the storage contract then loses an update now and then. Hydrant relies on
S3's atomicity, so the test server must have it too. This serializes the handlers that write
under a condition (PUT, the POST that completes a multipart upload, DELETE) and leaves the
rest as moto has them.

Usage is moto_server's: `scripts/moto_server.py -H 127.0.0.1 -p PORT`.
"""

import functools
import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

WRITE_LOCK = threading.Lock()


def atomic(handler):
    @functools.wraps(handler)
    def locked(*args, **kwargs):
        with WRITE_LOCK:
            return handler(*args, **kwargs)

    return locked


for name in ("put_object", "_key_response_post", "delete_object"):
    setattr(S3Response, name, atomic(getattr(S3Response, name)))

if __name__ == "__main__":
    sys.exit(main())
