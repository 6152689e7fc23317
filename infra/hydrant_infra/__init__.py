"""Hydrant's deployable stack, defined once.

`build(StackOptions(...))` is the CloudFormation (SAM) template as a dict: the checked-in
`infra/template.yaml`, the templates `python3 -m hydrant_infra` writes, and the resources the
CDK construct (`hydrant_infra.cdk.Hydrant`) adds to a CDK stack all come from it.

>>> from hydrant_infra import Route, StackOptions, build
>>> template = build(StackOptions(routes=[Route("web-logs", "logs/web/"), Route("audit", "logs/audit/")]))
>>> sorted(name for name in template["Resources"] if name.startswith("ObjectCreatedRule"))
['ObjectCreatedRuleAudit', 'ObjectCreatedRuleWebLogs']
"""

from .options import Route, StackOptions
from .stack import PARAMETERS, build

__all__ = ["PARAMETERS", "Route", "StackOptions", "build"]
