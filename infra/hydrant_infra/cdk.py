"""Hydrant as an AWS CDK construct (Python): the stack's resources, from the same builder as
the SAM template (`stack.py`), added to your CDK stack.

```python
import aws_cdk as cdk
from hydrant_infra import Route
from hydrant_infra.cdk import Hydrant

app = cdk.App()
stack = cdk.Stack(app, "Search")
hydrant = Hydrant(
    stack, "Hydrant",
    staging_bucket_name="my-firehose-bucket",  # omit to create a Firehose stream and bucket
    routes=[Route("web-logs", "logs/web/"), Route("audit", "logs/audit/")],
    api_auth="iam",
)
cdk.CfnOutput(stack, "Url", value=hydrant.search_url)
app.synth()
```

Every template parameter is a keyword argument, in snake case (`indexer_memory_size=4096`,
`alarm_topic_arn=...`), with the template's default. The resources keep the template's
logical ids (`IndexerFunction`, `SearchApi`...), so one Hydrant goes in one stack; the stack
needs the `AWS::Serverless-2016-10-31` transform, which the construct adds, and
`CAPABILITY_AUTO_EXPAND` to deploy (`cdk deploy` passes it).
"""

import os
import re

import aws_cdk as cdk
from aws_cdk import aws_s3_assets
from constructs import Construct

from .intrinsics import is_intrinsic
from .options import StackOptions
from .stack import PARAMETERS, build

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("mi_b", "mib")


PROP_NAMES = {snake_case(name): name for name in PARAMETERS}


class Hydrant(Construct):
    """The Hydrant stack's resources in a CDK stack.

    `routes`: `hydrant_infra.Route`s (index id, staging prefix, optional config URI); by
    default one index, `index_id`, under `firehose/` (or `staging_prefix`).
    `staging_bucket_name`: an existing bucket to index (its EventBridge notifications must be
    on; infra/README.md shows how); without it, a Firehose stream and its bucket are created.
    `api_auth`: `api-key` or `iam`. `cors_origin`: an origin browsers may call the API from.
    `code_dir`: where `cargo lambda build --release --arm64 --output-format zip` put the two
    zips (`<code_dir>/hydrant-indexer/bootstrap.zip`, ...), `target/lambda` by default.
    """

    def __init__(
        self,
        scope,
        construct_id,
        *,
        routes=None,
        staging_bucket_name=None,
        api_auth="api-key",
        cors_origin=None,
        code_dir=None,
        **parameters,
    ):
        super().__init__(scope, construct_id)
        values = {}
        for prop, value in parameters.items():
            if prop not in PROP_NAMES:
                raise TypeError(f"Hydrant() got an unexpected keyword argument `{prop}`; its settings are {sorted(PROP_NAMES)}")
            values[PROP_NAMES[prop]] = value
        if staging_bucket_name is not None:
            values["StagingBucketName"] = staging_bucket_name
        code_dir = code_dir or os.path.join("target", "lambda")
        code = {}
        for function in ("indexer", "searcher"):
            asset = aws_s3_assets.Asset(self, f"{function.capitalize()}Code", path=os.path.join(code_dir, f"hydrant-{function}", "bootstrap.zip"))
            code[function] = {"Bucket": asset.s3_bucket_name, "Key": asset.s3_object_key}
        options = StackOptions(
            routes=routes,
            existing_staging=staging_bucket_name is not None,
            values=values,
            api_auth=api_auth,
            cors_origin=cors_origin,
            code=code,
        )
        template = build(options)
        stack = cdk.Stack.of(self)
        if SAM_TRANSFORM not in (stack.template_options.transforms or []):
            stack.add_transform(SAM_TRANSFORM)
        self.resources = {}
        for logical_id, resource in template["Resources"].items():
            element = cdk.CfnResource(self, logical_id, type=resource["Type"], properties=resource.get("Properties"))
            element.override_logical_id(logical_id)
            for key, value in resource.get("Metadata", {}).items():
                element.add_metadata(key, value)
            self.resources[logical_id] = element
        self.outputs = {}
        for name, output in template["Outputs"].items():
            self.outputs[name] = _token(output["Value"])
            element = cdk.CfnOutput(self, name, value=self.outputs[name], description=output.get("Description"))
            element.override_logical_id(name)

    # The values a CDK app wires to other resources.
    @property
    def search_url(self):
        return self.outputs["SearchUrl"]

    @property
    def searcher_function_arn(self):
        return self.outputs["SearcherFunctionArn"]

    @property
    def queue_url(self):
        return self.outputs["QueueUrl"]

    @property
    def index_bucket_name(self):
        return self.outputs["IndexBucketName"]


def _token(value):
    """An output's value as a CDK token (outputs take strings, not intrinsic dicts)."""
    if not is_intrinsic(value):
        return value
    (function, argument), = value.items()
    if function == "Ref":
        return cdk.Fn.ref(argument)
    if function == "Fn::GetAtt":
        return cdk.Fn.get_att(*argument).to_string()
    if function == "Fn::Sub" and isinstance(argument, str):
        return cdk.Fn.sub(argument)
    raise ValueError(f"an output of {function} is not supported: {value}")
