#!/usr/bin/env python3
"""The CDK construct's synthesized stack (infra/cdk/app.py) holds the stack invariants and is
the builder's stack, resource for resource.

Run after `cdk synth -o DIR` with HYDRANT_CDK_OUT=DIR (scripts/check-infra does both).
"""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from hydrant_infra import Route, StackOptions, build  # noqa: E402
from test_template import StackInvariants  # noqa: E402

# What app.py asks for.
ROUTES = [
    Route("web-logs", "logs/web/", "s3://my-config-bucket/web-logs.yaml"),
    Route("audit", "logs/audit/"),
    Route("tenant-*", "logs/tenant=*/"),
]
OPTIONS = StackOptions(
    routes=ROUTES,
    existing_staging=True,
    values={"StagingBucketName": "my-firehose-bucket", "IndexerMemorySize": 3008},
    api_auth="iam",
)


def synthesized():
    out = os.environ.get("HYDRANT_CDK_OUT", os.path.join(HERE, "cdk.out"))
    with open(os.path.join(out, "HydrantExample.template.json"), encoding="utf-8") as file:
        return json.load(file)


class TheCdkExampleApp(StackInvariants, unittest.TestCase):
    options = OPTIONS
    expected_indexes = 3
    expected_buckets = ["IndexBucket"]
    staging_bucket_name = "my-firehose-bucket"
    staging_arn_text = "arn:${AWS::Partition}:s3:::my-firehose-bucket"

    @classmethod
    def setUpClass(cls):
        cls.template = synthesized()
        cls.resources = cls.template["Resources"]

    def expected_prefixes(self):
        return {route.prefix for route in ROUTES}

    def test_the_construct_adds_the_builders_resources_and_nothing_else(self):
        built = build(OPTIONS)["Resources"]
        self.assertEqual(set(self.resources), set(built))
        for name, resource in self.resources.items():
            expected = built[name]
            self.assertEqual(resource["Type"], expected["Type"], name)
            properties = dict(resource.get("Properties", {}))
            wanted = dict(expected.get("Properties", {}))
            if resource["Type"] == "AWS::Serverless::Function":
                # The code is a CDK asset instead of the SAM template's local zip.
                code = properties.pop("CodeUri")
                self.assertEqual(set(code), {"Bucket", "Key"}, name)
                self.assertTrue(code["Key"].endswith(".zip"), name)
                wanted.pop("CodeUri")
            self.assertEqual(properties, wanted, name)
            metadata = {key: value for key, value in resource.get("Metadata", {}).items() if key != "aws:cdk:path"}
            self.assertEqual(metadata, expected.get("Metadata", {}), name)
        self.assertEqual(self.template["Transform"], "AWS::Serverless-2016-10-31")
        self.assertNotIn("Conditions", self.template)

    def test_props_reach_the_resources(self):
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        self.assertEqual(indexer["MemorySize"], 3008)
        self.assertIn("HydrantSearchUrl", self.template["Outputs"])


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
