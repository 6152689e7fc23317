#!/usr/bin/env python3
"""An example CDK app: Hydrant on an existing Firehose bucket, three indexes, IAM auth.

`cdk synth` here writes the CloudFormation template to cdk.out/; scripts/check-infra lints
it, scans it with checkov and checks it with the stack invariants (test_construct.py).
Context: `-c staging_bucket=NAME` (default my-firehose-bucket), `-c code_dir=DIR` (where the
two Lambda zips are; target/lambda of the repository by default).
"""

import os
import sys

import aws_cdk as cdk

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hydrant_infra import Route  # noqa: E402
from hydrant_infra.cdk import Hydrant  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

app = cdk.App()
stack = cdk.Stack(app, "HydrantExample", description="Hydrant on an existing Firehose bucket, three indexes")
hydrant = Hydrant(
    stack,
    "Hydrant",
    staging_bucket_name=app.node.try_get_context("staging_bucket") or "my-firehose-bucket",
    routes=[
        Route("web-logs", "logs/web/", "s3://my-config-bucket/web-logs.yaml"),
        Route("audit", "logs/audit/"),
        Route("tenant-*", "logs/tenant=*/"),
    ],
    api_auth="iam",
    code_dir=app.node.try_get_context("code_dir") or os.path.join(ROOT, "target", "lambda"),
    indexer_memory_size=3008,
)
cdk.CfnOutput(stack, "HydrantSearchUrl", value=hydrant.search_url)
app.synth()
