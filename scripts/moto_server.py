#!/usr/bin/env python3
"""moto_server, with S3's conditional writes made atomic and EventBridge notifications read back.

Real S3 checks a write's condition (`If-Match`, `If-None-Match`) and applies the write as one
step. moto checks, then writes, with no lock between, while its server answers requests on
many threads: two compare-and-swap writes from the same version can both succeed, and a
conformance test of the storage contract then loses an update now and then. Hydrant relies on
S3's atomicity, so the test server must have it too. This serializes the handlers that write
under a condition (PUT, the POST that completes a multipart upload, DELETE) and leaves the
rest as moto has them.

moto stores a bucket's EventBridge notification setting but leaves it out of
GetBucketNotificationConfiguration, and answers that call for a bucket never configured with a
root element the SDKs reject, so `hydrant staging enable-eventbridge` could not run against it.
The getter answers both as S3 does.

Usage is moto_server's: `scripts/moto_server.py -H 127.0.0.1 -p PORT`.
"""

import functools
import re
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


EMPTY_CONFIGURATION = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
)


def without_content_length(headers):
    return {k: v for k, v in dict(headers).items() if k.lower() != "content-length"}


def as_s3_answers(handler):
    @functools.wraps(handler)
    def get(self, *args, **kwargs):
        status, headers, body = handler(self, *args, **kwargs)
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if config is None:
            # A bucket never configured: S3 answers an empty configuration, moto an element
            # the SDKs cannot parse.
            return status, without_content_length(headers), EMPTY_CONFIGURATION
        if config.event_bridge is None:
            return status, headers, body
        body = body.decode() if isinstance(body, bytes) else body
        # Before the closing tag, or into an element that was answered self-closing.
        body = re.sub(
            r"<NotificationConfiguration([^>]*)/>",
            r"<NotificationConfiguration\1></NotificationConfiguration>",
            body,
        ).replace(
            "</NotificationConfiguration>",
            "<EventBridgeConfiguration/></NotificationConfiguration>",
        )
        return status, without_content_length(headers), body

    return get


S3Response.get_bucket_notification = as_s3_answers(S3Response.get_bucket_notification)

if __name__ == "__main__":
    sys.exit(main())
