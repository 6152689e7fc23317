#!/usr/bin/env python3
"""Invariants of infra/template.yaml that matter for correctness and safety.

cfn-lint and checkov check what any template must get right; these check what Hydrant relies
on: the FIFO route from staging to the indexer, the event source's partial-failure reporting,
visibility timeout versus function timeout, the dead-letter queue, the API key, private
buckets, and least-privilege roles.

Run with the Python that has cfn-lint installed (scripts/test's .venv): its YAML decoder reads
CloudFormation's short-form intrinsic functions.
"""

import os
import sys
import unittest

from cfnlint.decode import decode

TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "template.yaml")

S3_WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:*"}


def load():
    template, errors = decode(TEMPLATE)
    if errors:
        raise SystemExit(f"cannot read {TEMPLATE}: {errors}")
    return template


def refs_in(value):
    """Every resource or parameter a value refers to (Ref, GetAtt, Sub)."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                import re
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(inner, list):
                    found |= refs_in(inner[1])
            else:
                found |= refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs_in(inner)
    return found


def statements(policies):
    """Statements of a SAM function's inline policy documents (including those under Fn::If)."""
    for policy in policies:
        if "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                if isinstance(branch, dict) and "Statement" in branch:
                    yield from branch["Statement"]
        elif "Statement" in policy:
            yield from policy["Statement"]


def as_list(value):
    return value if isinstance(value, list) else [value]


class TemplateInvariants(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load()
        cls.resources = cls.template["Resources"]

    def resource(self, name, kind):
        resource = self.resources[name]
        self.assertEqual(resource["Type"], kind, name)
        return resource["Properties"]

    def test_the_queue_is_fifo_with_one_group_per_index(self):
        queue = self.resource("IndexingQueue", "AWS::SQS::Queue")
        self.assertTrue(queue["FifoQueue"])
        self.assertTrue(self.resource("IndexingDeadLetterQueue", "AWS::SQS::Queue")["FifoQueue"])
        for rule in ("ObjectCreatedRule", "MaintenanceRule"):
            targets = self.resource(rule, "AWS::Events::Rule")["Targets"]
            self.assertEqual(len(targets), 1, rule)
            self.assertEqual(refs_in(targets[0]["Arn"]), {"IndexingQueue"}, rule)
            self.assertEqual(targets[0]["SqsParameters"]["MessageGroupId"], {"Ref": "IndexId"}, rule)

    def test_staging_events_reach_the_queue_through_eventbridge(self):
        staging = self.resource("StagingBucket", "AWS::S3::Bucket")
        self.assertTrue(staging["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"])
        pattern = self.resource("ObjectCreatedRule", "AWS::Events::Rule")["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.s3"])
        self.assertEqual(pattern["detail-type"], ["Object Created"])
        self.assertEqual(refs_in(pattern["detail"]["bucket"]["name"]), {"StagingBucket"})
        firehose = self.resource("DeliveryStream", "AWS::KinesisFirehose::DeliveryStream")["ExtendedS3DestinationConfiguration"]
        self.assertEqual(pattern["detail"]["object"]["key"], [{"prefix": firehose["Prefix"]}])
        # Firehose's error output must not be indexed.
        self.assertFalse(firehose["ErrorOutputPrefix"].startswith(firehose["Prefix"]))
        self.assertEqual(firehose["CompressionFormat"], "GZIP")
        policy = self.resource("IndexingQueuePolicy", "AWS::SQS::QueuePolicy")["PolicyDocument"]["Statement"][0]
        self.assertEqual(policy["Principal"], {"Service": "events.amazonaws.com"})
        self.assertEqual(refs_in(policy["Condition"]), {"ObjectCreatedRule", "MaintenanceRule"})

    def test_the_event_source_reports_partial_failures_in_batches_of_ten(self):
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        sources = [event["Properties"] for event in indexer["Events"].values() if event["Type"] == "SQS"]
        self.assertEqual(len(sources), 1)
        self.assertEqual(refs_in(sources[0]["Queue"]), {"IndexingQueue"})
        self.assertEqual(sources[0]["BatchSize"], 10)
        self.assertIn("ReportBatchItemFailures", sources[0]["FunctionResponseTypes"])

    def test_visibility_timeout_is_six_times_the_indexer_timeout(self):
        timeout = self.template["Parameters"]["IndexerTimeout"]
        mapping = self.template["Mappings"]["IndexerTimeouts"]
        self.assertEqual(sorted(mapping, key=int), sorted(timeout["AllowedValues"], key=int))
        for seconds, values in mapping.items():
            self.assertGreaterEqual(values["VisibilityTimeout"], 6 * int(seconds), seconds)
        queue = self.resource("IndexingQueue", "AWS::SQS::Queue")
        self.assertEqual(queue["VisibilityTimeout"], {"Fn::FindInMap": ["IndexerTimeouts", {"Ref": "IndexerTimeout"}, "VisibilityTimeout"]})
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        self.assertEqual(indexer["Timeout"], {"Ref": "IndexerTimeout"})

    def test_poison_messages_end_in_the_dead_letter_queue(self):
        redrive = self.resource("IndexingQueue", "AWS::SQS::Queue")["RedrivePolicy"]
        self.assertEqual(refs_in(redrive["deadLetterTargetArn"]), {"IndexingDeadLetterQueue"})
        max_receive_count = {"Fn::FindInMap": ["Redrive", "IndexingQueue", "MaxReceiveCount"]}
        self.assertEqual(redrive["maxReceiveCount"], max_receive_count)
        self.assertTrue(1 < self.template["Mappings"]["Redrive"]["IndexingQueue"]["MaxReceiveCount"] <= 10)
        # The indexer knows the same count, to send a failing message to the DLQ alone.
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        self.assertEqual(indexer["Environment"]["Variables"]["HYDRANT_MAX_RECEIVE_COUNT"], max_receive_count)
        alarm = self.resource("DeadLetterQueueAlarm", "AWS::CloudWatch::Alarm")
        self.assertEqual(refs_in(alarm["Dimensions"]), {"IndexingDeadLetterQueue"})
        # The queue keeps messages 14 days; the indexer's checkpoint remembers 15 by default.
        self.assertLessEqual(self.resource("IndexingQueue", "AWS::SQS::Queue")["MessageRetentionPeriod"], 14 * 86400)

    def test_every_api_route_is_proxied_and_requires_a_key_that_is_not_in_the_template(self):
        api = self.resource("SearchApi", "AWS::Serverless::Api")
        self.assertTrue(api["Auth"]["ApiKeyRequired"])
        self.assertIn("Throttle", api["Auth"]["UsagePlan"])
        searcher = self.resource("SearcherFunction", "AWS::Serverless::Function")
        api_events = [event["Properties"] for event in searcher["Events"].values() if event["Type"] == "Api"]
        self.assertTrue(api_events)
        for event in api_events:
            self.assertTrue(event["Auth"]["ApiKeyRequired"], event["Path"])
        # One greedy proxy under /api/v1/, so every route of the REST core is reachable.
        self.assertIn(("/api/v1/{proxy+}", "ANY"), [(event["Path"], event["Method"]) for event in api_events])
        for name, resource in self.resources.items():
            if resource["Type"] == "AWS::ApiGateway::ApiKey":
                self.assertNotIn("Value", resource.get("Properties", {}), name)
        function_url = searcher["FunctionUrlConfig"]["Fn::If"][1]
        self.assertEqual(function_url["AuthType"], "AWS_IAM")

    def test_no_bucket_is_public_or_unencrypted_or_reachable_without_tls(self):
        buckets = [name for name, resource in self.resources.items() if resource["Type"] == "AWS::S3::Bucket"]
        self.assertEqual(sorted(buckets), ["IndexBucket", "StagingBucket"])
        policies = {
            next(iter(refs_in(resource["Properties"]["Bucket"]))): resource["Properties"]["PolicyDocument"]
            for resource in self.resources.values()
            if resource["Type"] == "AWS::S3::BucketPolicy"
        }
        for name in buckets:
            properties = self.resources[name]["Properties"]
            block = properties["PublicAccessBlockConfiguration"]
            self.assertTrue(all(block[key] for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")), name)
            self.assertIn("ServerSideEncryptionConfiguration", properties["BucketEncryption"], name)
            deny = [statement for statement in policies[name]["Statement"] if statement["Effect"] == "Deny"]
            self.assertTrue(any(statement["Condition"]["Bool"]["aws:SecureTransport"] == "false" for statement in deny), name)
            for statement in policies[name]["Statement"]:
                self.assertFalse(statement["Effect"] == "Allow" and statement.get("Principal") == "*", name)

    def test_roles_are_scoped_to_their_buckets(self):
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        searcher = self.resource("SearcherFunction", "AWS::Serverless::Function")
        for statement in statements(indexer["Policies"]):
            for resource in as_list(statement["Resource"]):
                self.assertNotEqual(resource, "*", statement)
            actions = set(as_list(statement["Action"]))
            if actions & S3_WRITE_ACTIONS:
                self.assertEqual(refs_in(statement["Resource"]), {"IndexBucket"}, "the indexer writes only the index bucket")
            elif statement["Sid"] != "ReadIndexConfig":
                self.assertTrue(refs_in(statement["Resource"]) <= {"StagingBucket", "IndexBucket"}, statement)
        searcher_statements = list(statements(searcher["Policies"]))
        self.assertTrue(searcher_statements)
        for statement in searcher_statements:
            actions = set(as_list(statement["Action"]))
            self.assertEqual(refs_in(statement["Resource"]), {"IndexBucket"})
            if statement["Sid"] == "CreateSigningKey":
                # The one object the searcher writes: the scroll-id signing key.
                self.assertEqual(actions, {"s3:PutObject"})
                self.assertEqual(statement["Resource"], {"Fn::Sub": "${IndexBucket.Arn}/searcher/signing-key"})
                continue
            self.assertTrue(actions <= {"s3:GetObject", "s3:ListBucket"}, "the searcher only reads")
        firehose_role = self.resource("DeliveryStreamRole", "AWS::IAM::Role")
        for policy in firehose_role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                self.assertTrue(refs_in(statement["Resource"]) <= {"StagingBucket", "DeliveryStreamLogGroup"}, statement)

    def test_functions_run_arm64_on_al2023_with_log_retention(self):
        globals_ = self.template["Globals"]["Function"]
        self.assertEqual(globals_["Runtime"], "provided.al2023")
        self.assertEqual(globals_["Architectures"], ["arm64"])
        for function, log_group in (("IndexerFunction", "IndexerLogGroup"), ("SearcherFunction", "SearcherLogGroup")):
            properties = self.resource(function, "AWS::Serverless::Function")
            self.assertEqual(properties["LoggingConfig"]["LogGroup"], {"Ref": log_group})
            self.assertIn("RetentionInDays", self.resources[log_group]["Properties"])

    def test_alarms_watch_the_dlq_errors_and_queue_age(self):
        metrics = {
            resource["Properties"]["MetricName"]
            for resource in self.resources.values()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
        }
        self.assertEqual(metrics, {"ApproximateNumberOfMessagesVisible", "Errors", "ApproximateAgeOfOldestMessage"})

    def test_outputs_name_what_a_user_needs(self):
        outputs = self.template["Outputs"]
        for name in ("SearchUrl", "ApiKeyId", "QueueUrl", "DeliveryStreamName", "IndexUri"):
            self.assertIn(name, outputs)


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
