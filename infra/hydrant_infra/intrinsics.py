"""CloudFormation's intrinsic functions as plain dicts, and the values a stack option can take.

A value in the stack is either known when the template is built (a literal: the CDK construct
knows every option) or only when it is deployed (a parameter of the SAM template). Conditions
follow: with literals they are decided here and the template carries only the branch taken;
with parameters they become CloudFormation conditions. Both come out of the same code in
`stack.py`, so the construct and the template cannot drift apart.
"""

NO_VALUE = {"Ref": "AWS::NoValue"}


def ref(name):
    return {"Ref": name}


def get_att(resource, attribute):
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text, variables=None):
    return {"Fn::Sub": text if variables is None else [text, variables]}


def is_intrinsic(value):
    return isinstance(value, dict) and len(value) == 1 and (
        "Ref" in value or next(iter(value)).startswith("Fn::") or "Condition" in value
    )


class Condition:
    """A condition: decided (`decided` is a bool) or left to CloudFormation (`name`)."""

    def __init__(self, name, expression, decided=None):
        self.name = name
        self.expression = expression
        self.decided = decided

    def pick(self, if_true, if_false=NO_VALUE):
        """`Fn::If`, or the branch a decided condition takes."""
        if self.decided is None:
            return {"Fn::If": [self.name, if_true, if_false]}
        return if_true if self.decided else if_false

    def __bool__(self):
        raise TypeError("a deploy-time condition has no value here; use pick() or the Condition key")


def drop_no_values(value):
    """The template without the `AWS::NoValue` a decided condition left in lists and maps."""
    if isinstance(value, dict):
        if "Fn::If" in value:
            # A deploy-time branch may be AWS::NoValue: that is what it is for.
            name, if_true, if_false = value["Fn::If"]
            return {"Fn::If": [name, _keep(if_true), _keep(if_false)]}
        return {key: drop_no_values(inner) for key, inner in value.items() if inner != NO_VALUE}
    if isinstance(value, list):
        return [drop_no_values(inner) for inner in value if inner != NO_VALUE]
    return value


def _keep(value):
    return value if value == NO_VALUE else drop_no_values(value)
