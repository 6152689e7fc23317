"""Templates as people write them: YAML with CloudFormation's short-form tags (`!Ref`, `!Sub`)."""

import yaml

SHORT_FORMS = {
    "Ref": "!Ref",
    "Fn::GetAtt": "!GetAtt",
    "Fn::Sub": "!Sub",
    "Fn::If": "!If",
    "Fn::Equals": "!Equals",
    "Fn::Not": "!Not",
    "Fn::Select": "!Select",
    "Fn::Split": "!Split",
    "Fn::FindInMap": "!FindInMap",
    "Fn::Join": "!Join",
}


class _Tagged:
    def __init__(self, tag, value):
        self.tag = tag
        self.value = value


class _Dumper(yaml.SafeDumper):
    def choose_scalar_style(self):
        # PyYAML quotes every scalar with a tag of its own; `!Ref Name` reads better plain.
        event = self.event
        if event.tag and event.tag.startswith("!") and not event.style:
            if self.analysis is None:
                self.analysis = self.analyze_scalar(event.value)
            analysis = self.analysis
            if not analysis.empty and not analysis.multiline and (
                analysis.allow_flow_plain if self.flow_level else analysis.allow_block_plain
            ):
                return ""
        return super().choose_scalar_style()


def _represent_tagged(dumper, tagged):
    if isinstance(tagged.value, str):
        return dumper.represent_scalar(tagged.tag, tagged.value)
    if isinstance(tagged.value, list):
        flow = all(isinstance(item, (str, int)) or isinstance(item, _Tagged) and isinstance(item.value, str) for item in tagged.value)
        return dumper.represent_sequence(tagged.tag, tagged.value, flow_style=flow)
    return dumper.represent_mapping(tagged.tag, tagged.value)


def _represent_str(dumper, text):
    # Long descriptions fold; keys and short values stay plain.
    style = ">" if len(text) > 90 and "\n" not in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_list(dumper, items):
    # Short lists of plain values on one line, as `[aws.s3]`.
    flow = all(isinstance(item, (str, int, float, bool)) for item in items) and len(str(items)) < 80
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


_Dumper.add_representer(_Tagged, _represent_tagged)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)


def _short(value):
    if isinstance(value, dict):
        if len(value) == 1:
            key, inner = next(iter(value.items()))
            if key in SHORT_FORMS:
                if key == "Fn::GetAtt" and all(isinstance(part, str) for part in inner):
                    return _Tagged("!GetAtt", ".".join(inner))
                return _Tagged(SHORT_FORMS[key], _short(inner))
        return {key: _short(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_short(inner) for inner in value]
    return value


def dump(template, header=""):
    text = yaml.dump(_short(template), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return header + text
