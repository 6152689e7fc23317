"""What a Hydrant stack is built from: its routes, where staging is, and how the API is reached."""

import re
from dataclasses import dataclass, field

from .intrinsics import is_intrinsic

INDEX_ID = re.compile(r"^[a-zA-Z][a-zA-Z0-9_*-]{2,254}$")
API_AUTH_MODES = ("api-key", "iam")


@dataclass
class Route:
    """Objects under `prefix` of the staging bucket go to `index_id`.

    Each route has its own EventBridge rule and its own FIFO message group, so each index is
    indexed in order, one batch at a time, while other indexes go on in parallel.

    `index_id` may be a pattern with `*` (`logs-*`) when the prefix has a partition segment
    with `*` (`firehose/tenant=*/`): every partition gets its own index, created from the
    index template whose patterns match, and the route's partitions share one message group.
    `config_uri` (`s3://bucket/key`) names an index config the indexer creates the index from
    at its first start, when the index does not exist yet.

    `shards` (a power of two up to 256) feeds the index through that many message groups, each
    with its own indexer, in parallel. An object's shard is its key's trailing hex digits
    modulo `shards` (`hydrant_metastore::shard`), which EventBridge wildcards can match: one
    digit up to 16 shards, two beyond. Firehose's keys end in a UUID, so they always have them;
    a key ending otherwise matches no shard's rule, so routes of other writers keep 1 shard.
    Raising it later needs no reindexing.
    """

    index_id: object
    prefix: object = "firehose/"
    config_uri: object = ""
    shards: int = 1

    @property
    def is_pattern(self):
        return not is_intrinsic(self.index_id) and "*" in self.index_id

    @property
    def message_group(self):
        """The FIFO message group: the index id, whose batches the indexer routes by it."""
        return self.index_id

    @property
    def name(self):
        """The suffix of the route's logical ids: `web-logs` is `WebLogs`."""
        if is_intrinsic(self.index_id):
            return ""
        return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", self.index_id))

    def shard_group(self, shard):
        """The message group of one shard: the route's, with `/{shard}` past shard 0."""
        if shard == 0:
            return self.message_group
        if is_intrinsic(self.index_id):
            return {"Fn::Sub": ["${Group}/" + str(shard), {"Group": self.index_id}]}
        return f"{self.index_id}/{shard}"

    def event_key_filters(self, shard=0):
        """The EventBridge filters (any of them matches) on the keys of one shard's objects."""
        if self.shards == 1:
            if not is_intrinsic(self.prefix) and "*" in self.prefix:
                return [{"wildcard": self.prefix + "*"}]
            return [{"prefix": self.prefix}]
        digits = 1 if self.shards <= 16 else 2
        filters = []
        for value in range(16**digits):
            if value % self.shards != shard:
                continue
            for suffix in (f"{value:0{digits}x}", f"{value:0{digits}x}.gz"):
                if is_intrinsic(self.prefix):
                    filters.append({"wildcard": {"Fn::Sub": ["${Prefix}*" + suffix, {"Prefix": self.prefix}]}})
                else:
                    filters.append({"wildcard": f"{self.prefix}*{suffix}"})
        return filters

    def validate(self):
        if not is_intrinsic(self.index_id) and not INDEX_ID.match(self.index_id):
            raise ValueError(
                f"route index id `{self.index_id}`: 3 to 255 letters, digits, `-`, `_` (or `*` in a pattern), "
                "starting with a letter"
            )
        if not is_intrinsic(self.prefix):
            if not self.prefix or self.prefix.startswith("/"):
                raise ValueError(f"route prefix `{self.prefix}` must be a non-empty key prefix without a leading `/`")
            if self.is_pattern != ("*" in self.prefix):
                raise ValueError(
                    f"route `{self.index_id}` <- `{self.prefix}`: a `*` belongs in both the prefix and the index id, or in neither"
                )
        if not isinstance(self.shards, int) or self.shards < 1 or self.shards > 256 or self.shards & (self.shards - 1):
            raise ValueError(f"route `{self.index_id}`: shards must be a power of two from 1 to 256, got `{self.shards}`")
        if not is_intrinsic(self.config_uri) and self.config_uri and not self.config_uri.startswith("s3://"):
            raise ValueError(f"route `{self.index_id}`: the index config must be an s3:// URI, got `{self.config_uri}`")


@dataclass
class StackOptions:
    """The choices that shape the stack's resources.

    `routes`: None is the SAM template's one index, named by the `IndexId` parameter.
    `existing_staging`: read an existing bucket (`StagingBucketName`, `StagingPrefix`)
    instead of creating a Firehose stream and its bucket.
    `values`: the parameters' values when they are known when building (the CDK construct);
    None leaves every one a template parameter.
    `api_auth`: `api-key` (a usage plan and key) or `iam` (SigV4 on every route).
    `cors_origin`: an origin browsers may call the API from (`*` for any), or None.
    `code`: the functions' `CodeUri`s, by `indexer` and `searcher`.
    """

    routes: list = None
    existing_staging: bool = False
    values: dict = None
    api_auth: str = "api-key"
    cors_origin: str = None
    code: dict = field(
        default_factory=lambda: {
            "indexer": "../target/lambda/hydrant-indexer/bootstrap.zip",
            "searcher": "../target/lambda/hydrant-searcher/bootstrap.zip",
        }
    )

    def validate(self):
        if self.api_auth not in API_AUTH_MODES:
            raise ValueError(f"api_auth must be one of {API_AUTH_MODES}, got `{self.api_auth}`")
        if self.routes is not None:
            if not self.routes:
                raise ValueError("a stack needs at least one route")
            names = {}
            for route in self.routes:
                route.validate()
                if route.name in names:
                    raise ValueError(f"routes `{names[route.name]}` and `{route.index_id}` would share logical ids")
                names[route.name] = route.index_id
            # Each rule sends what matches it: overlapping prefixes would queue an object twice,
            # for two indexes.
            prefixes = [route.prefix for route in self.routes if not is_intrinsic(route.prefix)]
            for i, first in enumerate(prefixes):
                for j, second in enumerate(prefixes):
                    if i != j and second.split("*")[0].startswith(first.split("*")[0]):
                        raise ValueError(f"route prefixes `{first}` and `{second}` overlap: an object would be indexed twice")
