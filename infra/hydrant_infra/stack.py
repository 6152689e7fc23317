"""The Hydrant stack, built once for every way it is deployed.

`build(options)` returns the whole CloudFormation template (SAM) as a dict. The checked-in
`infra/template.yaml` is `build(StackOptions())`; `python3 -m hydrant_infra` builds the others
(an existing bucket, many indexes, IAM auth); the CDK construct (`cdk.py`) adds the same
resources to a CDK stack. Comments here say why a resource is shaped as it is.

Data flow: producers -> Firehose -> staging bucket -> EventBridge (one rule per route) -> SQS
FIFO queue (one message group per index) -> indexer Lambda -> index bucket <- searcher Lambda
<- API Gateway / Function URL / Invoke.
"""

from .intrinsics import NO_VALUE, Condition, drop_no_values, get_att, is_intrinsic, ref, sub
from .options import Route, StackOptions

DESCRIPTION = (
    "Hydrant: serverless search for the data Firehose lands in S3. S3 events go through EventBridge "
    "to an SQS FIFO queue (one message group per index) that feeds the indexer Lambda, which publishes "
    "tantivy splits to the index bucket; the searcher Lambda answers a Quickwit-compatible API."
)

# The parameters a deployment may set, with their CloudFormation specs. The CDK construct takes
# the same names as props (with these defaults).
PARAMETERS = {
    "IndexId": {
        "Type": "String",
        "Default": "mock-sales",
        "AllowedPattern": "^[a-zA-Z][a-zA-Z0-9_-]{2,254}$",
        "Description": "The index this stack feeds; also the FIFO message group.",
    },
    "IndexConfigUri": {
        "Type": "String",
        "Default": "",
        "Description": "s3://bucket/key of the index config YAML, created at the indexer's first start. Empty: "
        "the index must already exist in the index bucket (create it with `hydrant index create`).",
    },
    "StagingBucketName": {
        "Type": "String",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "Description": "The existing bucket Firehose writes to. Its EventBridge notifications must be on "
        "(infra/README.md shows how, keeping its other notifications).",
    },
    "StagingPrefix": {
        "Type": "String",
        "Default": "firehose/",
        "AllowedPattern": "^[^/].*$",
        "Description": "The key prefix Firehose writes under in that bucket (its S3 destination's Prefix).",
    },
    "IndexerMemorySize": {
        "Type": "Number",
        "Default": 1769,
        "MinValue": 512,
        "MaxValue": 10240,
        "Description": "Indexer memory in MB (vCPU grows with it, about one per 1,769 MB; the indexing pipeline uses one).",
    },
    "IndexerTimeout": {
        "Type": "String",
        "Default": "300",
        "AllowedValues": ["60", "120", "300", "600", "900"],
        "Description": "Indexer timeout in seconds; the queue's visibility timeout is six times this.",
    },
    "SearcherMemorySize": {
        "Type": "Number",
        "Default": 1769,
        "MinValue": 256,
        "MaxValue": 10240,
        "Description": "Searcher memory in MB; a quarter of it caches split bytes across invocations.",
    },
    "SearcherTimeout": {
        "Type": "Number",
        "Default": 29,
        "MinValue": 3,
        "MaxValue": 900,
        "Description": "Searcher timeout in seconds (API Gateway itself gives up at 29).",
    },
    "SplitCacheBytes": {
        "Type": "Number",
        "Default": 0,
        "MinValue": 0,
        "Description": "Bytes of whole splits the searcher keeps in /tmp (0 disables; /tmp is EphemeralStorage).",
    },
    "SplitsPerLeafInvocation": {
        "Type": "Number",
        "Default": 500,
        "MinValue": 0,
        "Description": "Most splits one searcher invocation reads: a search with more sends the rest, in shares this size, to parallel invocations of the searcher (0: never).",
    },
    "SearcherEphemeralStorage": {
        "Type": "Number",
        "Default": 512,
        "MinValue": 512,
        "MaxValue": 10240,
        "Description": "The searcher's /tmp size in MB.",
    },
    "BufferingIntervalSeconds": {
        "Type": "Number",
        "Default": 60,
        "MinValue": 0,
        "MaxValue": 900,
        "Description": "Firehose buffering time.",
    },
    "BufferingSizeMiB": {
        "Type": "Number",
        "Default": 64,
        "MinValue": 1,
        "MaxValue": 128,
        "Description": "Firehose buffering size.",
    },
    "StagingExpirationDays": {
        "Type": "Number",
        "Default": 7,
        "MinValue": 1,
        "Description": "Days staged Firehose objects are kept (indexing takes seconds, some days allow backfills).",
    },
    "MaintenanceSchedule": {
        "Type": "String",
        "Default": "rate(5 minutes)",
        "Description": "How often merges, retention and garbage collection run without new data.",
    },
    "GcGracePeriod": {
        "Type": "String",
        "Default": "15 minutes",
        "Description": "How long a replaced or expired split stays readable before its file is deleted.",
    },
    "LogRetentionDays": {
        "Type": "Number",
        "Default": 30,
        "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653],
    },
    "ApiThrottleRateLimit": {
        "Type": "Number",
        "Default": 50,
        "Description": "Steady requests per second allowed (per API key, or per stage with IAM auth).",
    },
    "ApiThrottleBurstLimit": {"Type": "Number", "Default": 100},
    "ApiDailyQuota": {
        "Type": "Number",
        "Default": 100000,
        "Description": "Requests per day allowed per API key.",
    },
    "EnableFunctionUrl": {
        "Type": "String",
        "Default": "false",
        "AllowedValues": ["true", "false"],
        "Description": "Also expose the searcher through a Function URL with IAM auth, for backend services.",
    },
    "AllowDeleteTasks": {
        "Type": "String",
        "Default": "false",
        "AllowedValues": ["true", "false"],
        "Description": (
            "Let the search API create delete tasks (POST /api/v1/{index}/delete-tasks), which the indexer's "
            "maintenance applies; the API is otherwise read-only."
        ),
    },
    "AlarmTopicArn": {
        "Type": "String",
        "Default": "",
        "Description": "SNS topic notified by the alarms (empty: alarms without notification).",
    },
    "RejectedRecordsPercent": {
        "Type": "Number",
        "Default": 1,
        "MinValue": 0,
        "MaxValue": 100,
        "Description": "Share of records rejected in five minutes above which RejectedRecordsAlarm fires.",
    },
}

# Lambda requires the visibility timeout of an event source queue to be at least the function's
# timeout; AWS recommends six times it, so that retries do not overlap.
INDEXER_TIMEOUTS = {seconds: {"VisibilityTimeout": 6 * int(seconds)} for seconds in PARAMETERS["IndexerTimeout"]["AllowedValues"]}
# One value for the queue's redrive policy and the indexer, which must agree: a message that
# fails on its last delivery is reported alone, so that the messages behind it do not follow it
# into the dead-letter queue.
MAX_RECEIVE_COUNT = 5

# The metric namespace and the dimension the indexer and searcher put on their EMF lines
# (lambda/src/metrics.rs): the function name, unique per stack, so stacks do not mix.
METRIC_NAMESPACE = "Hydrant"

# Both functions: Rust on Amazon Linux 2023, arm64 (cheaper per GB-second than x86). Set on
# each function rather than in SAM's Globals, which a CDK stack does not have.
FUNCTION_RUNTIME = {"Runtime": "provided.al2023", "Architectures": ["arm64"], "Handler": "bootstrap"}

CHECKOV_NO_ACCESS_LOGS = "Access logs of a bucket written only by Firehose and read only by the indexer add cost, not insight; CloudTrail data events can be enabled account-wide."
CHECKOV_LOG_KMS = "CloudWatch Logs encrypts log data by default; a customer-managed key is the user's choice, not a requirement of this stack."
CHECKOV_SQS_SSE = (
    "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which checkov does not recognize; a KMS key would need "
    "a key policy for EventBridge, and the AWS managed key cannot have one."
)


def skips(*pairs):
    return {"checkov": {"skip": [{"id": check, "comment": comment} for check, comment in pairs]}}


class Builder:
    """Accumulates one template. `value(name)` is a parameter's literal or a `Ref` to it."""

    def __init__(self, options):
        options.validate()
        self.options = options
        self.parameters = {}
        self.conditions = {}
        self.resources = {}
        self.outputs = {}

    # ------------------------------------------------------------ values and conditions

    def value(self, name):
        spec = PARAMETERS[name]
        if self.options.values is None:
            self.parameters[name] = spec
            return ref(name)
        if name in self.options.values:
            return self.options.values[name]
        if "Default" not in spec:
            raise ValueError(f"`{name}` has no default: give it a value")
        return spec["Default"]

    def condition(self, name, parameter, test, expression):
        """A condition on one parameter: decided here when the value is known."""
        value = self.value(parameter)
        if is_intrinsic(value):
            self.conditions[name] = expression(value)
            return Condition(name, self.conditions[name])
        return Condition(name, None, decided=test(value))

    def mapping_visibility_timeout(self):
        timeout = self.value("IndexerTimeout")
        if is_intrinsic(timeout):
            return {"Fn::FindInMap": ["IndexerTimeouts", timeout, "VisibilityTimeout"]}
        return INDEXER_TIMEOUTS[str(timeout)]["VisibilityTimeout"]

    def routes(self):
        if self.options.routes is not None:
            return self.options.routes
        prefix = self.value("StagingPrefix") if self.options.existing_staging else "firehose/"
        return [Route(index_id=self.value("IndexId"), prefix=prefix, config_uri=self.value("IndexConfigUri"))]

    # ------------------------------------------------------------ the template

    def template(self):
        self.has_function_url = self.condition(
            "HasFunctionUrl", "EnableFunctionUrl", lambda value: str(value).lower() == "true",
            lambda value: {"Fn::Equals": [value, "true"]},
        )
        self.allows_delete_tasks = self.condition(
            "AllowsDeleteTasks", "AllowDeleteTasks", lambda value: str(value).lower() == "true",
            lambda value: {"Fn::Equals": [value, "true"]},
        )
        self.has_alarm_topic = self.condition(
            "HasAlarmTopic", "AlarmTopicArn", bool, lambda value: {"Fn::Not": [{"Fn::Equals": [value, ""]}]},
        )
        self.staging()
        self.index_bucket()
        self.queues()
        for route in self.routes():
            self.route(route)
        self.queue_policy()
        self.indexer()
        self.searcher()
        self.alarms()
        self.stack_outputs()
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Transform": "AWS::Serverless-2016-10-31",
            "Description": DESCRIPTION,
        }
        if self.parameters:
            template["Parameters"] = {name: self.parameters[name] for name in PARAMETERS if name in self.parameters}
        if self.conditions:
            template["Conditions"] = self.conditions
        if is_intrinsic(self.value("IndexerTimeout")):
            template["Mappings"] = {"IndexerTimeouts": INDEXER_TIMEOUTS}
        template["Resources"] = self.resources
        template["Outputs"] = self.outputs
        return drop_no_values(template)

    def private_bucket(self, name, metadata, lifecycle_rules, notifications=None):
        properties = {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        }
        if notifications:
            properties["NotificationConfiguration"] = notifications
        properties["LifecycleConfiguration"] = {"Rules": lifecycle_rules}
        self.resources[name] = {"Type": "AWS::S3::Bucket", "Metadata": metadata, "Properties": properties}
        self.resources[f"{name}Policy"] = {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref(name),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [get_att(name, "Arn"), sub(f"${{{name}.Arn}}/*")],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        }

    # ------------------------------------------------------------ staging

    def staging(self):
        """The staging bucket and the stream writing to it, or an existing bucket."""
        if self.options.existing_staging:
            # Nothing is created: the bucket is the user's, and so are its notifications.
            self.staging_bucket_name = self.value("StagingBucketName")
            self.staging_arn = sub("arn:${AWS::Partition}:s3:::${Bucket}", {"Bucket": self.staging_bucket_name})
            return
        self.staging_bucket_name = ref("StagingBucket")
        self.staging_arn = get_att("StagingBucket", "Arn")
        self.private_bucket(
            "StagingBucket",
            skips(
                ("CKV_AWS_18", CHECKOV_NO_ACCESS_LOGS),
                ("CKV_AWS_21", "Staged objects are immutable Firehose batches that expire; versioning would only keep expired copies."),
            ),
            [
                {
                    "Id": "expire-staged-objects",
                    "Status": "Enabled",
                    "ExpirationInDays": self.value("StagingExpirationDays"),
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ],
            notifications={"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
        )
        self.resources["DeliveryStreamLogGroup"] = self.log_group(None)
        self.resources["DeliveryStreamLogStream"] = {
            "Type": "AWS::Logs::LogStream",
            "Properties": {"LogGroupName": ref("DeliveryStreamLogGroup"), "LogStreamName": "S3Delivery"},
        }
        self.resources["DeliveryStreamRole"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "firehose.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"sts:ExternalId": ref("AWS::AccountId")}},
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "write-staging",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "s3:AbortMultipartUpload",
                                        "s3:GetBucketLocation",
                                        "s3:GetObject",
                                        "s3:ListBucket",
                                        "s3:ListBucketMultipartUploads",
                                        "s3:PutObject",
                                    ],
                                    "Resource": [get_att("StagingBucket", "Arn"), sub("${StagingBucket.Arn}/*")],
                                },
                                {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": get_att("DeliveryStreamLogGroup", "Arn")},
                            ],
                        },
                    }
                ],
            },
        }
        self.resources["DeliveryStream"] = {
            "Type": "AWS::KinesisFirehose::DeliveryStream",
            "Properties": {
                "DeliveryStreamType": "DirectPut",
                "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
                "ExtendedS3DestinationConfiguration": {
                    "BucketARN": get_att("StagingBucket", "Arn"),
                    "RoleARN": get_att("DeliveryStreamRole", "Arn"),
                    "Prefix": "firehose/",
                    # Outside the indexed prefix: Firehose's error output must not be indexed.
                    "ErrorOutputPrefix": "firehose-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
                    "CompressionFormat": "GZIP",
                    "BufferingHints": {
                        "IntervalInSeconds": self.value("BufferingIntervalSeconds"),
                        "SizeInMBs": self.value("BufferingSizeMiB"),
                    },
                    "CloudWatchLoggingOptions": {
                        "Enabled": True,
                        "LogGroupName": ref("DeliveryStreamLogGroup"),
                        "LogStreamName": ref("DeliveryStreamLogStream"),
                    },
                },
            },
        }

    def index_bucket(self):
        self.private_bucket(
            "IndexBucket",
            skips(
                (
                    "CKV_AWS_18",
                    "Every write comes from the indexer, whose structured logs record what it publishes; access logs "
                    "would double that at a cost.",
                ),
                (
                    "CKV_AWS_21",
                    "Splits are immutable and the metastore is changed by compare-and-swap; versioning would keep deleted "
                    "splits forever, defeating garbage collection.",
                ),
            ),
            [{"Id": "abort-incomplete-uploads", "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}],
        )

    # ------------------------------------------------------------ ingestion

    def queues(self):
        self.resources["IndexingDeadLetterQueue"] = {
            "Type": "AWS::SQS::Queue",
            "Metadata": skips(("CKV_AWS_27", CHECKOV_SQS_SSE)),
            "Properties": {"FifoQueue": True, "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True},
        }
        self.resources["IndexingQueue"] = {
            "Type": "AWS::SQS::Queue",
            "Metadata": skips(("CKV_AWS_27", CHECKOV_SQS_SSE)),
            "Properties": {
                "FifoQueue": True,
                "ContentBasedDeduplication": True,
                # One group per index: Lambda processes a group's batches one at a time, in
                # order, so indexing is serialized by the queue, not by reserved concurrency;
                # other groups (indexes) go on in parallel.
                "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId",
                "MessageRetentionPeriod": 1209600,
                "SqsManagedSseEnabled": True,
                "VisibilityTimeout": self.mapping_visibility_timeout(),
                "RedrivePolicy": {"deadLetterTargetArn": get_att("IndexingDeadLetterQueue", "Arn"), "maxReceiveCount": MAX_RECEIVE_COUNT},
            },
        }
        self.rule_names = []

    def route(self, route):
        """One route: a rule per shard sending its objects' events to the shard's message group,
        and the index's maintenance (which covers every shard) in shard 0's group."""
        maintenance_rule = f"MaintenanceRule{route.name}"
        target = {
            "Arn": get_att("IndexingQueue", "Arn"),
            "SqsParameters": {"MessageGroupId": route.message_group},
        }
        for shard in range(route.shards):
            # Shard 0 keeps the rule and group a route of one shard always had.
            object_rule = f"ObjectCreatedRule{route.name}" + (f"Shard{shard}" if shard else "")
            self.rule_names.append(object_rule)
            if is_intrinsic(route.prefix) or is_intrinsic(route.index_id):
                description = "Objects landing under the route's prefix of the staging bucket, to its index's message group."
            elif route.shards == 1:
                description = f"Objects under {route.prefix} of the staging bucket, to the {route.index_id} message group."
            else:
                description = f"Objects under {route.prefix} of the staging bucket in shard {shard} of {route.shards}, to its message group."
            self.resources[object_rule] = {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Description": description,
                    "EventPattern": {
                        "source": ["aws.s3"],
                        "detail-type": ["Object Created"],
                        "detail": {"bucket": {"name": [self.staging_bucket_name]}, "object": {"key": route.event_key_filters(shard)}},
                    },
                    "Targets": [
                        {
                            "Id": "indexing-queue",
                            "Arn": get_att("IndexingQueue", "Arn"),
                            "SqsParameters": {"MessageGroupId": route.shard_group(shard)},
                            # EventBridge keeps retrying a day before it drops an event.
                            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
                        }
                    ],
                },
            }
        self.rule_names.append(maintenance_rule)
        # A pattern route maintains every index: its partitions' indexes are not known here.
        if route.is_pattern:
            maintenance_input = _json({"type": "maintenance", "index_id": None})
        elif is_intrinsic(route.index_id):
            maintenance_input = sub('{"type": "maintenance", "index_id": "${Index}"}', {"Index": route.index_id})
        else:
            maintenance_input = _json({"type": "maintenance", "index_id": route.index_id})
        self.resources[maintenance_rule] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "Merges, retention and garbage collection, even when no data arrives.",
                "ScheduleExpression": self.value("MaintenanceSchedule"),
                "Targets": [
                    {
                        "Id": "maintenance",
                        **target,
                        "Input": maintenance_input,
                    }
                ],
            },
        }

    def queue_policy(self):
        self.resources["IndexingQueuePolicy"] = {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("IndexingQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgeSends",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": get_att("IndexingQueue", "Arn"),
                            "Condition": {"ArnEquals": {"aws:SourceArn": [get_att(name, "Arn") for name in self.rule_names]}},
                        }
                    ],
                },
            },
        }

    def log_group(self, function):
        properties = {"RetentionInDays": self.value("LogRetentionDays")}
        if function:
            properties = {"LogGroupName": sub(f"/aws/lambda/${{AWS::StackName}}-{function}"), **properties}
        return {"Type": "AWS::Logs::LogGroup", "Metadata": skips(("CKV_AWS_158", CHECKOV_LOG_KMS)), "Properties": properties}

    def staging_read_statements(self):
        """Read access to exactly what the routes index: the bucket, under their prefixes."""
        prefixes = [route.prefix for route in self.routes()]
        objects = [sub("${Bucket}/${Prefix}*", {"Bucket": self.staging_arn, "Prefix": prefix}) for prefix in prefixes]
        list_condition = {"StringLike": {"s3:prefix": [sub("${Prefix}*", {"Prefix": prefix}) for prefix in prefixes]}}
        return [
            {"Sid": "ReadStaging", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
            # Listing tells a missing object (404) from a forbidden one (403), and backfills.
            {"Sid": "ListStaging", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": self.staging_arn, "Condition": list_condition},
        ]

    def config_read_statement(self, config_uris):
        resources = []
        for uri in config_uris:
            if is_intrinsic(uri):
                location = {"Fn::Select": [1, {"Fn::Split": ["s3://", uri]}]}
            else:
                location = uri[len("s3://"):]
            resources.append(sub("arn:${AWS::Partition}:s3:::${Location}", {"Location": location}))
        return {"Sid": "ReadIndexConfig", "Effect": "Allow", "Action": "s3:GetObject", "Resource": resources}

    def indexer(self):
        routes = self.routes()
        config_uris = [route.config_uri for route in routes if route.config_uri]
        policies = [
            {
                "Version": "2012-10-17",
                "Statement": self.staging_read_statements()
                + [
                    {
                        "Sid": "WriteIndex",
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                        "Resource": sub("${IndexBucket.Arn}/*"),
                    },
                    {"Sid": "ListIndex", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": get_att("IndexBucket", "Arn")},
                ],
            }
        ]
        variables = {
            "HYDRANT_INDEX_URI": sub("s3://${IndexBucket}"),
            "HYDRANT_GC_GRACE_PERIOD": self.value("GcGracePeriod"),
            "HYDRANT_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
        }
        if len(config_uris) == 1 and is_intrinsic(config_uris[0]):
            # The SAM template's one index: its config parameter may be empty.
            has_config = self.condition(
                "HasIndexConfig", "IndexConfigUri", bool, lambda value: {"Fn::Not": [{"Fn::Equals": [value, ""]}]}
            )
            variables["HYDRANT_INDEX_CONFIGS"] = has_config.pick(config_uris[0])
            policies.append(has_config.pick({"Version": "2012-10-17", "Statement": [self.config_read_statement(config_uris)]}))
        elif config_uris:
            variables["HYDRANT_INDEX_CONFIGS"] = ",".join(config_uris)
            policies.append({"Version": "2012-10-17", "Statement": [self.config_read_statement(config_uris)]})
        pattern_routes = [route for route in routes if route.is_pattern]
        if pattern_routes:
            # Partitioned prefixes name their index by the object key (ingest/src/settings.rs).
            variables["HYDRANT_PREFIX_RULES"] = sub(
                ",".join(f"${{Bucket}}/{route.prefix}={route.index_id}" for route in pattern_routes),
                {"Bucket": self.staging_bucket_name},
            )
        self.resources["IndexerLogGroup"] = self.log_group("indexer")
        self.resources["IndexerFunction"] = {
            "Type": "AWS::Serverless::Function",
            "Metadata": skips(
                (
                    "CKV_AWS_116",
                    "The SQS event source has its own dead-letter queue (the redrive policy); a function DLQ only applies to "
                    "asynchronous invocations, which this function does not get.",
                ),
                ("CKV_AWS_117", "The function talks only to S3 and SQS public endpoints; a VPC would add NAT cost and cold-start time for no isolation gain."),
                ("CKV_AWS_115", "Concurrency is bounded by the FIFO queue (one batch per message group at a time), not by reserved concurrency."),
                ("CKV_AWS_173", "The environment holds bucket names and durations, no secrets."),
            ),
            "Properties": {
                "FunctionName": sub("${AWS::StackName}-indexer"),
                "Description": "Indexes Firehose objects from the FIFO queue into tantivy splits.",
                # Built by `cargo lambda build --release --arm64 --output-format zip`
                # (infra/README.md); `sam deploy` uploads it.
                "CodeUri": self.options.code["indexer"],
                **FUNCTION_RUNTIME,
                "MemorySize": self.value("IndexerMemorySize"),
                "Timeout": self.value("IndexerTimeout"),
                "EphemeralStorage": {"Size": 4096},
                "LoggingConfig": {"LogGroup": ref("IndexerLogGroup"), "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"},
                "Environment": {"Variables": variables},
                "Policies": policies,
                "Events": {
                    "IndexingQueue": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": get_att("IndexingQueue", "Arn"),
                            "BatchSize": 10,
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        },
                    }
                },
            },
        }

    # ------------------------------------------------------------ search

    def searcher(self):
        iam = self.options.api_auth == "iam"
        route_auth = {"Authorizer": "AWS_IAM"} if iam else {"ApiKeyRequired": True}
        variables = {
            "HYDRANT_INDEX_URI": sub("s3://${IndexBucket}"),
            "HYDRANT_SPLIT_CACHE_BYTES": self.value("SplitCacheBytes"),
            # Leaves go to this same function (AWS_LAMBDA_FUNCTION_NAME).
            "HYDRANT_SPLITS_PER_LEAF": self.value("SplitsPerLeafInvocation"),
            "HYDRANT_ALLOW_DELETE_TASKS": self.value("AllowDeleteTasks"),
        }
        if self.options.cors_origin:
            # API Gateway answers the preflight; the function adds the header to each answer.
            variables["HYDRANT_CORS_ALLOW_ORIGIN"] = self.options.cors_origin
        self.resources["SearcherLogGroup"] = self.log_group("searcher")
        self.resources["SearcherFunction"] = {
            "Type": "AWS::Serverless::Function",
            "Metadata": skips(
                ("CKV_AWS_116", "The searcher is invoked synchronously (API Gateway, Function URL, Invoke); callers see its errors, there is nothing to dead-letter."),
                ("CKV_AWS_117", "The function reads only the index bucket through the public S3 endpoint; a VPC would add NAT cost and cold-start time for no isolation gain."),
                ("CKV_AWS_115", "Searches are independent and read-only; the API's throttling limits callers."),
                ("CKV_AWS_173", "The environment holds a bucket name and cache sizes, no secrets."),
            ),
            "Properties": {
                "FunctionName": sub("${AWS::StackName}-searcher"),
                "Description": "Answers Quickwit-compatible searches over the index bucket.",
                "CodeUri": self.options.code["searcher"],
                **FUNCTION_RUNTIME,
                "MemorySize": self.value("SearcherMemorySize"),
                "Timeout": self.value("SearcherTimeout"),
                "EphemeralStorage": {"Size": self.value("SearcherEphemeralStorage")},
                "LoggingConfig": {"LogGroup": ref("SearcherLogGroup"), "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"},
                "Environment": {"Variables": variables},
                "Policies": [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Sid": "ReadIndex", "Effect": "Allow", "Action": "s3:GetObject", "Resource": sub("${IndexBucket.Arn}/*")},
                            {"Sid": "ListIndex", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": get_att("IndexBucket", "Arn")},
                            # The key scroll ids are signed with: the first searcher that serves a
                            # scroll creates it (a conditional write); the one object it writes.
                            {
                                "Sid": "CreateSigningKey",
                                "Effect": "Allow",
                                "Action": "s3:PutObject",
                                "Resource": sub("${IndexBucket.Arn}/searcher/signing-key"),
                            },
                            # With AllowDeleteTasks, the one document the API may change: an
                            # index's delete tasks (a compare-and-swap write, read back after).
                            self.allows_delete_tasks.pick(
                                {
                                    "Sid": "CreateDeleteTasks",
                                    "Effect": "Allow",
                                    "Action": "s3:PutObject",
                                    "Resource": sub("${IndexBucket.Arn}/indexes/*/delete_tasks.json"),
                                }
                            ),
                            # Leaf searches of large requests: the function invokes itself, by the
                            # name it is given above (its ARN would make the role depend on it).
                            {
                                "Sid": "InvokeLeaves",
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-searcher"),
                            },
                        ],
                    }
                ],
                "FunctionUrlConfig": self.has_function_url.pick({"AuthType": "AWS_IAM"}),
                "Events": {
                    # Every route of the REST core, the native API and the Elasticsearch one
                    # under /api/v1/_elastic/, through one greedy proxy resource.
                    "Api": {
                        "Type": "Api",
                        "Properties": {"RestApiId": ref("SearchApi"), "Path": "/api/v1/{proxy+}", "Method": "ANY", "Auth": route_auth},
                    },
                    # Liveness for load balancers and uptime checks: it reads nothing and says
                    # nothing about the data, so it needs no credentials.
                    "Health": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": ref("SearchApi"),
                            "Path": "/health",
                            "Method": "GET",
                            "Auth": {"Authorizer": "NONE"} if iam else {"ApiKeyRequired": False},
                        },
                    },
                    # The search page: static HTML that holds no data. It asks for the API key
                    # and sends it with every request it makes; with IAM auth it says how to
                    # reach the data instead (a browser cannot sign requests).
                    "Page": {
                        "Type": "Api",
                        "Properties": {
                            "RestApiId": ref("SearchApi"),
                            "Path": "/ui",
                            "Method": "GET",
                            "Auth": {"Authorizer": "NONE"} if iam else {"ApiKeyRequired": False},
                        },
                    },
                },
            },
        }
        throttle = {"RateLimit": self.value("ApiThrottleRateLimit"), "BurstLimit": self.value("ApiThrottleBurstLimit")}
        if iam:
            auth = {"DefaultAuthorizer": "AWS_IAM", "AddDefaultAuthorizerToCorsPreflight": False}
            method_settings = [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": throttle["RateLimit"],
                    "ThrottlingBurstLimit": throttle["BurstLimit"],
                }
            ]
        else:
            auth = {
                "ApiKeyRequired": True,
                "AddApiKeyRequiredToCorsPreflight": False,
                "UsagePlan": {
                    "CreateUsagePlan": "PER_API",
                    "Description": "Hydrant search API key and limits.",
                    "Throttle": throttle,
                    "Quota": {"Limit": self.value("ApiDailyQuota"), "Period": "DAY"},
                },
            }
            method_settings = None
        api = {
            "Name": sub("${AWS::StackName}-search"),
            "StageName": "prod",
            "EndpointConfiguration": {"Type": "REGIONAL"},
            # Compressed responses are base64 bodies that API Gateway must turn back into bytes.
            "BinaryMediaTypes": ["*/*"],
            "Auth": auth,
        }
        if method_settings:
            api["MethodSettings"] = method_settings
        if self.options.cors_origin:
            api["Cors"] = {
                "AllowOrigin": f"'{self.options.cors_origin}'",
                "AllowMethods": "'GET,POST,PUT,OPTIONS'",
                "AllowHeaders": "'authorization,content-type,x-api-key,x-amz-date,x-amz-security-token,accept-encoding'",
                "MaxAge": "'600'",
            }
        self.resources["SearchApi"] = {
            "Type": "AWS::Serverless::Api",
            "Metadata": skips(
                ("CKV_AWS_120", "The searcher caches split data and per-split results itself; an API Gateway cache would serve stale results after new splits are published."),
                ("CKV_AWS_73", "X-Ray tracing is left to the user; the searcher logs each request's cost in one structured line."),
                ("CKV_AWS_76", "Access logging needs an account-wide API Gateway CloudWatch role that this stack must not change; the searcher logs every request."),
            ),
            "Properties": api,
        }

    # ------------------------------------------------------------ alarms

    def alarm(self, name, description, metric=None, threshold=0, periods=1, metrics=None, statistic="Sum", comparison="GreaterThanThreshold"):
        properties = {"AlarmDescription": description}
        if metrics:
            properties["Metrics"] = metrics
        else:
            namespace, metric_name, dimensions = metric
            properties.update(
                {
                    "Namespace": namespace,
                    "MetricName": metric_name,
                    "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions],
                    "Statistic": statistic,
                    "Period": 300,
                }
            )
        properties.update(
            {
                "EvaluationPeriods": periods,
                "Threshold": threshold,
                "ComparisonOperator": comparison,
                "TreatMissingData": "notBreaching",
                "AlarmActions": self.has_alarm_topic.pick([self.value("AlarmTopicArn")]),
            }
        )
        self.resources[name] = {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}

    def alarms(self):
        """Each alarm's meaning and the action it calls for are in infra/README.md (Alarms)."""
        indexer = [("FunctionName", ref("IndexerFunction"))]
        searcher = [("FunctionName", ref("SearcherFunction"))]
        self.alarm(
            "DeadLetterQueueAlarm",
            "Messages the indexer could not process after five attempts are in the dead-letter queue.",
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", [("QueueName", get_att("IndexingDeadLetterQueue", "QueueName"))]),
            statistic="Maximum",
        )
        self.alarm("IndexerErrorsAlarm", "The indexer function failed (crash, timeout or init error).", ("AWS/Lambda", "Errors", indexer))
        self.alarm(
            "QueueAgeAlarm",
            "Indexing is falling behind; the oldest queued object waits for more than 15 minutes.",
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", [("QueueName", get_att("IndexingQueue", "QueueName"))]),
            threshold=900,
            periods=2,
            statistic="Maximum",
        )
        self.alarm("SearcherErrorsAlarm", "The searcher function failed (crash, timeout or init error).", ("AWS/Lambda", "Errors", searcher))
        self.alarm("SearcherThrottlesAlarm", "Searches were refused because the account's Lambda concurrency ran out.", ("AWS/Lambda", "Throttles", searcher))
        self.alarm("IndexerThrottlesAlarm", "Indexer invocations were throttled: the account's Lambda concurrency ran out.", ("AWS/Lambda", "Throttles", indexer))
        self.alarm(
            "ApiServerErrorsAlarm",
            "The search API answered 5XX: the searcher failed or timed out behind API Gateway.",
            ("AWS/ApiGateway", "5XXError", [("ApiName", sub("${AWS::StackName}-search")), ("Stage", "prod")]),
        )
        self.alarm(
            "DroppedMessagesAlarm",
            "The indexer set aside messages that can never succeed (recorded under the index's errors prefix).",
            (METRIC_NAMESPACE, "MessagesSetAside", indexer),
        )
        rejected = self.value("RejectedRecordsPercent")
        self.alarm(
            "RejectedRecordsAlarm",
            "More records than the threshold share were rejected in five minutes (kept under the index's errors prefix).",
            threshold=rejected,
            metrics=[
                {"Id": "rejected", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": METRIC_NAMESPACE, "MetricName": "RecordsRejected", "Dimensions": [{"Name": key, "Value": value} for key, value in indexer]}, "Period": 300, "Stat": "Sum"}},
                {"Id": "indexed", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": METRIC_NAMESPACE, "MetricName": "DocsIndexed", "Dimensions": [{"Name": key, "Value": value} for key, value in indexer]}, "Period": 300, "Stat": "Sum"}},
                {"Id": "percent", "Label": "Rejected records (%)", "ReturnData": True, "Expression": "100 * rejected / (rejected + indexed + 0.000001)"},
            ],
        )

    # ------------------------------------------------------------ outputs

    def stack_outputs(self):
        outputs = self.outputs
        outputs["SearchUrl"] = {
            "Description": "Base URL of the search API (append /api/v1/{index_id}/search).",
            "Value": sub("https://${SearchApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"),
        }
        if self.options.api_auth == "api-key":
            outputs["ApiKeyId"] = {
                "Description": "Id of the API key; read its value with `aws apigateway get-api-key --include-value --api-key <id>`.",
                "Value": ref("SearchApiApiKey"),
            }
        else:
            outputs["SearchApiInvokeArn"] = {
                "Description": "Grant execute-api:Invoke on it to callers that sign requests (SigV4).",
                "Value": sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${SearchApi}/prod/*"),
            }
        url = {"Description": "Function URL of the searcher (IAM auth).", "Value": get_att("SearcherFunctionUrl", "FunctionUrl")}
        if self.has_function_url.decided is None:
            outputs["SearchFunctionUrl"] = {"Condition": "HasFunctionUrl", **url}
        elif self.has_function_url.decided:
            outputs["SearchFunctionUrl"] = url
        outputs["SearcherFunctionName"] = {"Description": "For direct invocations.", "Value": ref("SearcherFunction")}
        outputs["SearcherFunctionArn"] = {"Description": "Grant lambda:InvokeFunction on it to backend callers.", "Value": get_att("SearcherFunction", "Arn")}
        outputs["QueueUrl"] = {"Description": "The indexing queue (backfill sends here).", "Value": ref("IndexingQueue")}
        outputs["DeadLetterQueueUrl"] = {"Value": ref("IndexingDeadLetterQueue")}
        if not self.options.existing_staging:
            outputs["DeliveryStreamName"] = {"Description": "Put records here.", "Value": ref("DeliveryStream")}
        outputs["StagingBucketName"] = {"Value": self.staging_bucket_name}
        outputs["IndexBucketName"] = {"Value": ref("IndexBucket")}
        outputs["IndexUri"] = {"Description": "The index storage, for the hydrant CLI (--index-uri).", "Value": sub("s3://${IndexBucket}")}


def _json(value):
    import json

    return json.dumps(value)


def build(options=None):
    """The template for `options` (the SAM template's defaults when None)."""
    return Builder(options or StackOptions()).template()


__all__ = ["build", "Builder", "PARAMETERS", "MAX_RECEIVE_COUNT", "METRIC_NAMESPACE", "NO_VALUE"]
