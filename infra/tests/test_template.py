#!/usr/bin/env python3
"""Invariants of the Hydrant stack that matter for correctness and safety, in every shape.

cfn-lint and checkov check what any template must get right; these check what Hydrant relies
on: the FIFO route from staging to the indexer (one rule and one message group per index), the
event source's partial-failure reporting, visibility timeout versus function timeout, the
dead-letter queue, the API's auth, private buckets, least-privilege roles, the metrics the
alarms read, and that infra/template.yaml is what the generator writes.

The shapes: the checked-in SAM template (a new stream, one index named by a parameter), an
existing bucket, three indexes in one stack, and IAM auth with CORS. The CDK construct is
checked by scripts/check-infra on its synthesized output, with the same invariants
(infra/cdk/test_construct.py).

Run with the Python that has cfn-lint installed (scripts/test's .venv).
"""

import json
import os
import re
import sys
import unittest

INFRA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, INFRA)

from hydrant_infra import Route, StackOptions, build  # noqa: E402
from hydrant_infra.stack import MAX_RECEIVE_COUNT, METRIC_NAMESPACE  # noqa: E402

TEMPLATE = os.path.join(INFRA, "template.yaml")
S3_WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:*"}
# Every alarm, by the metric it reads: infra/README.md (Alarms) says what each means and what to do.
ALARMS = {
    "DeadLetterQueueAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "IndexerErrorsAlarm": ("AWS/Lambda", "Errors"),
    "QueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "SearcherErrorsAlarm": ("AWS/Lambda", "Errors"),
    "SearcherThrottlesAlarm": ("AWS/Lambda", "Throttles"),
    "IndexerThrottlesAlarm": ("AWS/Lambda", "Throttles"),
    "ApiServerErrorsAlarm": ("AWS/ApiGateway", "5XXError"),
    "DroppedMessagesAlarm": (METRIC_NAMESPACE, "MessagesSetAside"),
    "RejectedRecordsAlarm": (METRIC_NAMESPACE, "RecordsRejected"),
}

THREE_INDEXES = [
    Route("web-logs", "logs/web/", "s3://configs/web-logs.yaml"),
    Route("audit", "logs/audit/"),
    Route("tenant-*", "logs/tenant=*/"),
]


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
                variables = inner[1] if isinstance(inner, list) else {}
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text) if name not in variables)
                found |= refs_in(variables)
            else:
                found |= refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs_in(inner)
    return found


def statements(policies):
    """Statements of a SAM function's inline policy documents (including those under Fn::If,
    policies or statements)."""
    for policy in policies:
        if "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                if isinstance(branch, dict) and "Statement" in branch:
                    yield from unconditional(branch["Statement"])
        elif "Statement" in policy:
            yield from unconditional(policy["Statement"])


def unconditional(statements):
    """Statements, each `Fn::If` replaced by the statements of its branches."""
    for statement in statements:
        if "Fn::If" in statement:
            yield from (branch for branch in statement["Fn::If"][1:] if branch != {"Ref": "AWS::NoValue"})
        else:
            yield statement


def as_list(value):
    return value if isinstance(value, list) else [value]


class StackInvariants:
    """What every shape of the stack must hold. Subclasses say which shape."""

    options = StackOptions()

    @classmethod
    def setUpClass(cls):
        cls.template = build(cls.options)
        cls.resources = cls.template["Resources"]

    def resource(self, name, kind):
        resource = self.resources[name]
        self.assertEqual(resource["Type"], kind, name)
        return resource["Properties"]

    def of_type(self, kind):
        return {name: resource["Properties"] for name, resource in self.resources.items() if resource["Type"] == kind}

    def rules(self):
        rules = self.of_type("AWS::Events::Rule")
        objects = {name: rule for name, rule in rules.items() if "EventPattern" in rule}
        schedules = {name: rule for name, rule in rules.items() if "ScheduleExpression" in rule}
        self.assertEqual(len(objects) + len(schedules), len(rules))
        return objects, schedules

    def test_each_index_has_its_rules_and_message_group_on_one_fifo_queue(self):
        queue = self.resource("IndexingQueue", "AWS::SQS::Queue")
        self.assertTrue(queue["FifoQueue"])
        self.assertEqual(queue["DeduplicationScope"], "messageGroup")
        self.assertEqual(queue["FifoThroughputLimit"], "perMessageGroupId")
        self.assertTrue(self.resource("IndexingDeadLetterQueue", "AWS::SQS::Queue")["FifoQueue"])
        self.assertEqual(len(self.of_type("AWS::SQS::Queue")), 2)
        objects, schedules = self.rules()
        self.assertEqual(len(schedules), self.expected_indexes)
        groups = []
        for name, rule in {**objects, **schedules}.items():
            self.assertEqual(len(rule["Targets"]), 1, name)
            self.assertEqual(refs_in(rule["Targets"][0]["Arn"]), {"IndexingQueue"}, name)
        for name, rule in objects.items():
            groups.append(str(rule["Targets"][0]["SqsParameters"]["MessageGroupId"]))
            # Each index's maintenance goes into its own group too (shard 0's: it covers all).
            shard_zero = re.sub(r"Shard\d+$", "", name)
            twin = schedules[shard_zero.replace("ObjectCreatedRule", "MaintenanceRule")]
            if shard_zero == name:
                self.assertEqual(twin["Targets"][0]["SqsParameters"], rule["Targets"][0]["SqsParameters"], name)
        self.assertEqual(len(set(groups)), len(groups), "one message group per shard")
        self.assertEqual(len(groups), self.expected_shards or self.expected_indexes)

    expected_indexes = 1
    # Message groups (and object rules) over every route's shards; None: one per index.
    expected_shards = None

    def test_staging_events_reach_the_queue_through_eventbridge(self):
        objects, schedules = self.rules()
        for name, rule in objects.items():
            pattern = rule["EventPattern"]
            self.assertEqual(pattern["source"], ["aws.s3"])
            self.assertEqual(pattern["detail-type"], ["Object Created"])
            self.assertEqual(pattern["detail"]["bucket"]["name"], [self.staging_bucket_name])
            for key_filter in pattern["detail"]["object"]["key"]:
                self.assertTrue(set(key_filter) <= {"prefix", "wildcard"}, name)
        policy = self.resource("IndexingQueuePolicy", "AWS::SQS::QueuePolicy")["PolicyDocument"]["Statement"][0]
        self.assertEqual(policy["Principal"], {"Service": "events.amazonaws.com"})
        self.assertEqual(refs_in(policy["Condition"]), set(objects) | set(schedules))

    def test_the_event_source_reports_partial_failures_in_batches_of_ten(self):
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        sources = [event["Properties"] for event in indexer["Events"].values() if event["Type"] == "SQS"]
        self.assertEqual(len(sources), 1)
        self.assertEqual(refs_in(sources[0]["Queue"]), {"IndexingQueue"})
        self.assertEqual(sources[0]["BatchSize"], 10)
        self.assertIn("ReportBatchItemFailures", sources[0]["FunctionResponseTypes"])
        self.assertEqual(len(self.of_type("AWS::Serverless::Function")), 2, "one indexer and one searcher for every index")

    def test_visibility_timeout_is_six_times_the_indexer_timeout(self):
        queue = self.resource("IndexingQueue", "AWS::SQS::Queue")
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        if "Mappings" in self.template:
            timeout = self.template["Parameters"]["IndexerTimeout"]
            mapping = self.template["Mappings"]["IndexerTimeouts"]
            self.assertEqual(sorted(mapping, key=int), sorted(timeout["AllowedValues"], key=int))
            for seconds, values in mapping.items():
                self.assertGreaterEqual(values["VisibilityTimeout"], 6 * int(seconds), seconds)
            self.assertEqual(queue["VisibilityTimeout"], {"Fn::FindInMap": ["IndexerTimeouts", {"Ref": "IndexerTimeout"}, "VisibilityTimeout"]})
            self.assertEqual(indexer["Timeout"], {"Ref": "IndexerTimeout"})
        else:
            self.assertGreaterEqual(queue["VisibilityTimeout"], 6 * int(indexer["Timeout"]))

    def test_poison_messages_end_in_the_dead_letter_queue(self):
        redrive = self.resource("IndexingQueue", "AWS::SQS::Queue")["RedrivePolicy"]
        self.assertEqual(refs_in(redrive["deadLetterTargetArn"]), {"IndexingDeadLetterQueue"})
        self.assertEqual(redrive["maxReceiveCount"], MAX_RECEIVE_COUNT)
        self.assertTrue(1 < MAX_RECEIVE_COUNT <= 10)
        # The indexer knows the same count, to send a failing message to the DLQ alone.
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        self.assertEqual(indexer["Environment"]["Variables"]["HYDRANT_MAX_RECEIVE_COUNT"], str(MAX_RECEIVE_COUNT))
        # The queue keeps messages 14 days; the indexer's checkpoint remembers 15 by default.
        self.assertLessEqual(self.resource("IndexingQueue", "AWS::SQS::Queue")["MessageRetentionPeriod"], 14 * 86400)

    def api_events(self):
        searcher = self.resource("SearcherFunction", "AWS::Serverless::Function")
        return {event["Properties"]["Path"]: event["Properties"] for event in searcher["Events"].values() if event["Type"] == "Api"}

    def test_every_route_health_and_the_page_are_reachable_and_every_api_route_is_authenticated(self):
        events = self.api_events()
        self.assertEqual(set(events), {"/api/v1/{proxy+}", "/health", "/ui"})
        self.assertEqual(events["/ui"]["Method"], "GET")
        self.assertEqual(events["/ui"]["Auth"], events["/health"]["Auth"])
        self.assertEqual(events["/api/v1/{proxy+}"]["Method"], "ANY")
        self.assertEqual(events["/health"]["Method"], "GET")
        api = self.resource("SearchApi", "AWS::Serverless::Api")
        if self.options.api_auth == "iam":
            self.assertEqual(api["Auth"]["DefaultAuthorizer"], "AWS_IAM")
            self.assertEqual(events["/api/v1/{proxy+}"]["Auth"], {"Authorizer": "AWS_IAM"})
            self.assertEqual(events["/health"]["Auth"], {"Authorizer": "NONE"})
            self.assertNotIn("UsagePlan", api["Auth"])
            # Throttled per stage, as there is no key to throttle by.
            self.assertEqual({setting["ResourcePath"] for setting in api["MethodSettings"]}, {"/*"})
            self.assertNotIn("ApiKeyId", self.template["Outputs"])
        else:
            self.assertTrue(api["Auth"]["ApiKeyRequired"])
            self.assertIn("Throttle", api["Auth"]["UsagePlan"])
            self.assertTrue(events["/api/v1/{proxy+}"]["Auth"]["ApiKeyRequired"])
            self.assertFalse(events["/health"]["Auth"]["ApiKeyRequired"])
        for name, resource in self.resources.items():
            if resource["Type"] == "AWS::ApiGateway::ApiKey":
                self.assertNotIn("Value", resource.get("Properties", {}), name)
        # A Function URL, where there is one, is IAM-signed: it has no key or usage plan.
        searcher = self.resource("SearcherFunction", "AWS::Serverless::Function")
        function_url = searcher.get("FunctionUrlConfig")
        if function_url is not None:
            function_url = function_url["Fn::If"][1] if "Fn::If" in function_url else function_url
            self.assertEqual(function_url["AuthType"], "AWS_IAM")

    def test_no_bucket_is_public_or_unencrypted_or_reachable_without_tls(self):
        buckets = list(self.of_type("AWS::S3::Bucket"))
        self.assertEqual(sorted(buckets), sorted(self.expected_buckets))
        policies = {next(iter(refs_in(policy["Bucket"]))): policy["PolicyDocument"] for policy in self.of_type("AWS::S3::BucketPolicy").values()}
        for name in buckets:
            properties = self.resources[name]["Properties"]
            block = properties["PublicAccessBlockConfiguration"]
            self.assertTrue(all(block[key] for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")), name)
            self.assertIn("ServerSideEncryptionConfiguration", properties["BucketEncryption"], name)
            deny = [statement for statement in policies[name]["Statement"] if statement["Effect"] == "Deny"]
            self.assertTrue(any(statement["Condition"]["Bool"]["aws:SecureTransport"] == "false" for statement in deny), name)
            for statement in policies[name]["Statement"]:
                self.assertFalse(statement["Effect"] == "Allow" and statement.get("Principal") == "*", name)

    expected_buckets = ["IndexBucket", "StagingBucket"]

    def test_roles_are_scoped_to_their_buckets_and_prefixes(self):
        indexer = self.resource("IndexerFunction", "AWS::Serverless::Function")
        searcher = self.resource("SearcherFunction", "AWS::Serverless::Function")
        for statement in statements(indexer["Policies"]):
            for resource in as_list(statement["Resource"]):
                self.assertNotEqual(resource, "*", statement)
            actions = set(as_list(statement["Action"]))
            if actions & S3_WRITE_ACTIONS:
                self.assertEqual(refs_in(statement["Resource"]), {"IndexBucket"}, "the indexer writes only the index bucket")
            elif statement["Sid"] == "ReadStaging":
                self.assertEqual(actions, {"s3:GetObject"})
                self.assertEqual(self.staging_objects(statement["Resource"]), self.expected_staging_objects())
            elif statement["Sid"] == "ListStaging":
                self.assertEqual(actions, {"s3:ListBucket"})
                self.assertEqual(self.staging_objects([statement["Resource"]]), {self.staging_arn_text})
                listed = {sub_text(value) for value in statement["Condition"]["StringLike"]["s3:prefix"]}
                self.assertEqual(listed, {prefix + "*" for prefix in self.expected_prefixes()})
            elif statement["Sid"] == "ReadIndexConfig":
                self.assertEqual(actions, {"s3:GetObject"})
            else:
                self.assertEqual(refs_in(statement["Resource"]), {"IndexBucket"}, statement)
        searcher_statements = list(statements(searcher["Policies"]))
        self.assertTrue(searcher_statements)
        for statement in searcher_statements:
            actions = set(as_list(statement["Action"]))
            if statement["Sid"] == "InvokeLeaves":
                # Leaf searches: this function, and nothing else, by the name it is given.
                self.assertEqual(actions, {"lambda:InvokeFunction"})
                self.assertEqual(searcher["FunctionName"], {"Fn::Sub": "${AWS::StackName}-searcher"})
                self.assertEqual(
                    sub_text(statement["Resource"]),
                    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-searcher",
                )
                self.assertIn("HYDRANT_SPLITS_PER_LEAF", searcher["Environment"]["Variables"])
                continue
            self.assertEqual(refs_in(statement["Resource"]), {"IndexBucket"})
            if statement["Sid"] == "CreateSigningKey":
                # The one object the searcher writes: the scroll-id signing key.
                self.assertEqual(actions, {"s3:PutObject"})
                self.assertEqual(statement["Resource"], {"Fn::Sub": "${IndexBucket.Arn}/searcher/signing-key"})
                continue
            if statement["Sid"] == "CreateDeleteTasks":
                # With AllowDeleteTasks only: the indexes' delete task documents, nothing else.
                self.assertEqual(actions, {"s3:PutObject"})
                self.assertEqual(statement["Resource"], {"Fn::Sub": "${IndexBucket.Arn}/indexes/*/delete_tasks.json"})
                continue
            self.assertTrue(actions <= {"s3:GetObject", "s3:ListBucket"}, "the searcher only reads")
        for role in self.of_type("AWS::IAM::Role").values():
            for policy in role["Policies"]:
                for statement in policy["PolicyDocument"]["Statement"]:
                    self.assertTrue(refs_in(statement["Resource"]) <= {"StagingBucket", "DeliveryStreamLogGroup"}, statement)

    staging_arn_text = "${StagingBucket.Arn}"
    staging_bucket_name = {"Ref": "StagingBucket"}

    def expected_prefixes(self):
        return {"firehose/"}

    def expected_staging_objects(self):
        return {f"{self.staging_arn_text}/{prefix}*" for prefix in self.expected_prefixes()}

    def staging_objects(self, resources):
        return {sub_text(resource) for resource in resources}

    def test_functions_run_arm64_on_al2023_with_json_logs_and_retention(self):
        for function, log_group in (("IndexerFunction", "IndexerLogGroup"), ("SearcherFunction", "SearcherLogGroup")):
            properties = self.resource(function, "AWS::Serverless::Function")
            self.assertEqual(properties["Runtime"], "provided.al2023")
            self.assertEqual(properties["Architectures"], ["arm64"])
            self.assertEqual(properties["Handler"], "bootstrap")
            logging = properties["LoggingConfig"]
            self.assertEqual(logging["LogGroup"], {"Ref": log_group})
            self.assertEqual(logging["LogFormat"], "JSON")
            self.assertEqual(logging["ApplicationLogLevel"], "INFO")
            self.assertIn("RetentionInDays", self.resources[log_group]["Properties"])

    def test_every_alarm_watches_its_metric_in_this_stack(self):
        alarms = self.of_type("AWS::CloudWatch::Alarm")
        self.assertEqual(set(alarms), set(ALARMS))
        for name, alarm in alarms.items():
            namespace, metric = ALARMS[name]
            if "Metrics" in alarm:
                stats = [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]
                self.assertIn(metric, [stat["MetricName"] for stat in stats], name)
                dimensions = [stat["Dimensions"] for stat in stats]
                self.assertEqual({stat["Namespace"] for stat in stats}, {namespace})
            else:
                self.assertEqual((alarm["Namespace"], alarm["MetricName"]), (namespace, metric), name)
                dimensions = [alarm["Dimensions"]]
            for dimension_set in dimensions:
                # Every alarm is on this stack's own resources: two stacks never share one.
                self.assertTrue(dimension_set, name)
                self.assertTrue(refs_in(dimension_set) or any("AWS::StackName" in str(value) for value in dimension_set), name)
            if namespace == METRIC_NAMESPACE:
                # The functions' EMF lines carry FunctionName (lambda/src/metrics.rs).
                for dimension_set in dimensions:
                    self.assertEqual([(item["Name"], item["Value"]) for item in dimension_set], [("FunctionName", {"Ref": "IndexerFunction"})], name)
            self.assertEqual(alarm["TreatMissingData"], "notBreaching", name)
            # Notified through the topic, when the deployment names one.
            if "AlarmTopicArn" in self.template.get("Parameters", {}):
                self.assertEqual(alarm["AlarmActions"]["Fn::If"][0], "HasAlarmTopic", name)

    def test_outputs_name_what_a_user_needs(self):
        outputs = self.template["Outputs"]
        for name in ("SearchUrl", "QueueUrl", "IndexUri", "StagingBucketName", "SearcherFunctionArn"):
            self.assertIn(name, outputs)


def sub_text(value):
    """The text of an `Fn::Sub` with its literal variables put in (what the ARN will read)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        inner = value["Fn::Sub"]
        if isinstance(inner, str):
            return inner
        text, variables = inner
        for name, variable in variables.items():
            text = text.replace("${" + name + "}", sub_text(variable) if isinstance(variable, dict) else str(variable))
        return text
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${%s.%s}" % tuple(value["Fn::GetAtt"])
    if isinstance(value, dict) and "Ref" in value:
        return "${%s}" % value["Ref"]
    return value


class TheSamTemplate(StackInvariants, unittest.TestCase):
    """infra/template.yaml: a new Firehose stream and bucket, one index named by `IndexId`."""

    def test_the_checked_in_template_is_what_the_generator_writes(self):
        from hydrant_infra.__main__ import HEADER
        from hydrant_infra.yaml_out import dump

        with open(TEMPLATE, encoding="utf-8") as file:
            checked_in = file.read()
        self.assertEqual(checked_in, dump(build(), HEADER.format(args="")), "regenerate: python3 -m hydrant_infra > infra/template.yaml")
        from cfnlint.decode import decode

        decoded, errors = decode(TEMPLATE)
        self.assertFalse(errors)
        self.assertEqual(set(decoded["Resources"]), set(self.resources))

    def test_the_stream_writes_where_the_rule_listens_and_errors_elsewhere(self):
        objects, _ = self.rules()
        (rule,) = objects.values()
        firehose = self.resource("DeliveryStream", "AWS::KinesisFirehose::DeliveryStream")["ExtendedS3DestinationConfiguration"]
        self.assertEqual(rule["EventPattern"]["detail"]["object"]["key"], [{"prefix": firehose["Prefix"]}])
        self.assertFalse(firehose["ErrorOutputPrefix"].startswith(firehose["Prefix"]))
        self.assertEqual(firehose["CompressionFormat"], "GZIP")
        self.assertTrue(self.resource("StagingBucket", "AWS::S3::Bucket")["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"])
        self.assertEqual(rule["Targets"][0]["SqsParameters"]["MessageGroupId"], {"Ref": "IndexId"})


class AnExistingBucket(StackInvariants, unittest.TestCase):
    """Firehose already writes to a bucket: no stream, no bucket, access to that prefix only."""

    options = StackOptions(existing_staging=True)
    expected_buckets = ["IndexBucket"]
    staging_bucket_name = {"Ref": "StagingBucketName"}
    staging_arn_text = "arn:${AWS::Partition}:s3:::${StagingBucketName}"

    def expected_prefixes(self):
        return {"${StagingPrefix}"}

    def test_nothing_of_staging_is_created(self):
        kinds = {resource["Type"] for resource in self.resources.values()}
        self.assertNotIn("AWS::KinesisFirehose::DeliveryStream", kinds)
        self.assertNotIn("AWS::IAM::Role", kinds)
        self.assertNotIn("StagingBucket", self.resources)
        self.assertNotIn("DeliveryStreamName", self.template["Outputs"])
        self.assertEqual(self.template["Outputs"]["StagingBucketName"]["Value"], {"Ref": "StagingBucketName"})
        self.assertNotIn("Default", self.template["Parameters"]["StagingBucketName"])


class ThreeIndexesOnAnExistingBucket(StackInvariants, unittest.TestCase):
    """Three routes, one of them a partitioned prefix with an index per tenant."""

    options = StackOptions(routes=THREE_INDEXES, existing_staging=True)
    expected_indexes = 3
    expected_buckets = ["IndexBucket"]
    staging_bucket_name = {"Ref": "StagingBucketName"}
    staging_arn_text = "arn:${AWS::Partition}:s3:::${StagingBucketName}"

    def expected_prefixes(self):
        return {route.prefix for route in THREE_INDEXES}

    def test_each_route_has_its_filter_and_group(self):
        objects, schedules = self.rules()
        by_group = {rule["Targets"][0]["SqsParameters"]["MessageGroupId"]: rule for rule in objects.values()}
        self.assertEqual(set(by_group), {"web-logs", "audit", "tenant-*"})
        self.assertEqual(by_group["web-logs"]["EventPattern"]["detail"]["object"]["key"], [{"prefix": "logs/web/"}])
        self.assertEqual(by_group["tenant-*"]["EventPattern"]["detail"]["object"]["key"], [{"wildcard": "logs/tenant=*/*"}])
        inputs = {rule["Targets"][0]["SqsParameters"]["MessageGroupId"]: rule["Targets"][0]["Input"] for rule in schedules.values()}
        self.assertEqual(inputs["audit"], '{"type": "maintenance", "index_id": "audit"}')
        self.assertEqual(inputs["tenant-*"], '{"type": "maintenance", "index_id": null}')
        variables = self.resource("IndexerFunction", "AWS::Serverless::Function")["Environment"]["Variables"]
        self.assertEqual(variables["HYDRANT_INDEX_CONFIGS"], "s3://configs/web-logs.yaml")
        self.assertEqual(sub_text(variables["HYDRANT_PREFIX_RULES"]), "${StagingBucketName}/logs/tenant=*/=tenant-*")
        self.assertEqual(len(self.of_type("AWS::Serverless::Api")), 1)

    def test_overlapping_or_malformed_routes_are_refused(self):
        for routes in (
            [Route("one-index", "logs/"), Route("two-index", "logs/web/")],
            [Route("one-index", "logs/"), Route("one_index", "other/")],
            [Route("x", "logs/")],
            [Route("tenant-*", "logs/")],
            [Route("web-logs", "logs/", "https://example.com/config.yaml")],
        ):
            with self.assertRaises(ValueError, msg=routes):
                build(StackOptions(routes=routes))


# Keys and their shard among 4, 8 and 64, as `hydrant_metastore::shard::shard_for` says (its
# test `the_stacks_routing_table` holds the same table): the rules must route each key there.
SHARD_TABLE = [
    ("firehose/2026/12/05/09/logs-1-2026-12-05-09-14-00-6f1c0b2e-77d4-4f0e-9b1a-1c2d3e4f5a6b", (3, 3, 43)),
    ("firehose/2026/12/05/09/logs-1-2026-12-05-09-14-00-6f1c0b2e-77d4-4f0e-9b1a-1c2d3e4f5a6b.gz", (3, 3, 43)),
    ("firehose/x-00.gz", (0, 0, 0)),
    ("firehose/x-ff", (3, 7, 63)),
    ("firehose/x-7e.gz", (2, 6, 62)),
]


def wildcard_matches(pattern, text):
    """EventBridge's wildcard: `*` is any run of characters, everything else itself."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text) is not None


def key_matches(key_filter, key):
    if "prefix" in key_filter:
        return key.startswith(key_filter["prefix"])
    return wildcard_matches(key_filter["wildcard"], key)


class ShardedRoutes(StackInvariants, unittest.TestCase):
    """An index fed through 8 shards (a rule and a message group each) beside one of 1."""

    options = StackOptions(routes=[Route("logs", "firehose/", shards=8), Route("audit", "logs/audit/")], existing_staging=True)
    expected_indexes = 2
    expected_shards = 9
    expected_buckets = ["IndexBucket"]
    staging_bucket_name = {"Ref": "StagingBucketName"}
    staging_arn_text = "arn:${AWS::Partition}:s3:::${StagingBucketName}"

    def expected_prefixes(self):
        return {"firehose/", "logs/audit/"}

    def test_every_key_reaches_exactly_its_shards_group(self):
        objects, _ = self.rules()
        for count, position in ((4, 0), (8, 1), (64, 2)):
            template = build(StackOptions(routes=[Route("logs", "firehose/", shards=count)], existing_staging=True))
            rules = {name: rule for name, rule in template["Resources"].items() if "EventPattern" in rule["Properties"]}
            self.assertEqual(len(rules), count)
            for key, shards in SHARD_TABLE:
                groups = [
                    rule["Properties"]["Targets"][0]["SqsParameters"]["MessageGroupId"]
                    for rule in rules.values()
                    if any(key_matches(key_filter, key) for key_filter in rule["Properties"]["EventPattern"]["detail"]["object"]["key"])
                ]
                expected = "logs" if shards[position] == 0 else f"logs/{shards[position]}"
                self.assertEqual(groups, [expected], f"{key} among {count}")
            # A rule's pattern stays small: EventBridge limits its size.
            for rule in rules.values():
                self.assertLessEqual(len(json.dumps(rule["Properties"]["EventPattern"])), 2048)
        self.assertEqual(len(objects), 9)

    def test_shard_counts_are_powers_of_two(self):
        for shards in (0, 3, 512):
            with self.assertRaises(ValueError, msg=shards):
                build(StackOptions(routes=[Route("logs", "firehose/", shards=shards)]))


class IamAuthWithCors(StackInvariants, unittest.TestCase):
    """SigV4 on every API route, and browsers allowed from one origin."""

    options = StackOptions(api_auth="iam", cors_origin="https://grafana.example.com")

    def test_cors_answers_preflight_without_credentials_and_the_function_adds_the_header(self):
        api = self.resource("SearchApi", "AWS::Serverless::Api")
        self.assertEqual(api["Cors"]["AllowOrigin"], "'https://grafana.example.com'")
        self.assertFalse(api["Auth"]["AddDefaultAuthorizerToCorsPreflight"])
        searcher = self.resource("SearcherFunction", "AWS::Serverless::Function")
        self.assertEqual(searcher["Environment"]["Variables"]["HYDRANT_CORS_ALLOW_ORIGIN"], "https://grafana.example.com")

    def test_callers_are_told_what_to_grant(self):
        outputs = self.template["Outputs"]
        self.assertNotIn("ApiKeyId", outputs)
        invoke = sub_text(outputs["SearchApiInvokeArn"]["Value"])
        self.assertEqual(invoke, "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${SearchApi}/prod/*")


class KnownValues(unittest.TestCase):
    """With every value known (the CDK construct), conditions are decided and nothing is left
    to a parameter."""

    def test_a_template_of_values_has_no_parameters_or_conditions(self):
        template = build(StackOptions(routes=THREE_INDEXES, values={"EnableFunctionUrl": "true", "IndexerTimeout": "600"}))
        self.assertNotIn("Parameters", template)
        self.assertNotIn("Conditions", template)
        self.assertNotIn("Mappings", template)
        self.assertEqual(template["Resources"]["IndexingQueue"]["Properties"]["VisibilityTimeout"], 3600)
        self.assertEqual(template["Resources"]["SearcherFunction"]["Properties"]["FunctionUrlConfig"], {"AuthType": "AWS_IAM"})
        self.assertIn("SearchFunctionUrl", template["Outputs"])
        self.assertNotIn("AlarmActions", template["Resources"]["QueueAgeAlarm"]["Properties"])
        self.assertNotIn("Fn::If", str(template))

    def test_delete_tasks_through_the_api_are_an_option(self):
        def searcher(values):
            return build(StackOptions(routes=THREE_INDEXES, values=values))["Resources"]["SearcherFunction"]["Properties"]

        def sids(properties):
            return {statement["Sid"] for statement in statements(properties["Policies"])}

        default = searcher({})
        self.assertEqual(default["Environment"]["Variables"]["HYDRANT_ALLOW_DELETE_TASKS"], "false")
        self.assertNotIn("CreateDeleteTasks", sids(default))
        allowed = searcher({"AllowDeleteTasks": "true"})
        self.assertEqual(allowed["Environment"]["Variables"]["HYDRANT_ALLOW_DELETE_TASKS"], "true")
        self.assertIn("CreateDeleteTasks", sids(allowed))


class TheTerraformExample(unittest.TestCase):
    """infra/terraform/main.tf deploys a packaged template: the parameters it sets and the
    outputs it reads are the template's (terraform itself is not installed here; checkov
    scans the file in scripts/check-infra)."""

    def test_it_names_only_parameters_and_outputs_the_templates_have(self):
        import hcl2

        with open(os.path.join(INFRA, "terraform", "main.tf"), encoding="utf-8") as file:
            text = file.read()
        config = hcl2.loads(text)
        (stack,) = [r["aws_cloudformation_stack"]["hydrant"] for r in config["resource"]]
        capabilities = stack["capabilities"]
        # python-hcl2 wraps attribute values in a list, or not, by version.
        if capabilities and isinstance(capabilities[0], list):
            (capabilities,) = capabilities
        self.assertEqual(capabilities, ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        new_stream = build()
        existing = build(StackOptions(existing_staging=True))
        self.assertIn("StagingBucketName", existing["Parameters"])
        self.assertIn("AlarmTopicArn", existing["Parameters"])
        self.assertIn("AlarmTopicArn", new_stream["Parameters"])
        for output in re.findall(r'outputs\["(\w+)"\]', text):
            self.assertIn(output, new_stream["Outputs"])
            self.assertIn(output, existing["Outputs"])


def load_tests(loader, tests, ignore):
    import doctest

    import hydrant_infra

    tests.addTests(doctest.DocTestSuite(hydrant_infra))
    return tests


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
