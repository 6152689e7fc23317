//! CloudWatch metrics from log lines (the Embedded Metric Format): no API call, no client,
//! no added latency; CloudWatch reads them out of the function's log stream.
//!
//! Every line is in the `Hydrant` namespace with the function's name as its first dimension,
//! so two stacks in one account never mix (the alarms in infra/hydrant_infra/stack.py read
//! them by `FunctionName`). A line about one index also carries `IndexId`, and its figures
//! count at both levels: `[[FunctionName], [FunctionName, IndexId]]`.
//!
//! ```
//! use hydrant_lambda::metrics::{MetricLine, Unit};
//!
//! let line = MetricLine::new("hydrant-searcher")
//!     .dimension("IndexId", "logs")
//!     .metric("Requests", Unit::Count, 1)
//!     .to_json(1_700_000_000_000);
//! let value: serde_json::Value = serde_json::from_str(&line).unwrap();
//! assert_eq!(value["Requests"], 1);
//! assert_eq!(value["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1][1], "IndexId");
//! ```

use hydrant_ingest::batch::{BatchOutcome, IndexActivity};
use hydrant_search::cost::RequestCost;
use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "Hydrant";

/// The function's name, as Lambda gives it (`AWS_LAMBDA_FUNCTION_NAME`), else `default`.
pub fn function_name(default: &str) -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    fn name(self) -> Option<&'static str> {
        match self {
            Unit::Count => None,
            Unit::Bytes => Some("Bytes"),
            Unit::Milliseconds => Some("Milliseconds"),
        }
    }
}

/// One EMF line: dimensions (the function's name first), then metrics.
#[derive(Clone, Debug)]
pub struct MetricLine {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, Unit, u64)>,
}

impl MetricLine {
    pub fn new(function_name: &str) -> Self {
        MetricLine {
            dimensions: vec![("FunctionName", function_name.to_string())],
            metrics: Vec::new(),
        }
    }

    pub fn dimension(mut self, name: &'static str, value: &str) -> Self {
        self.dimensions.push((name, value.to_string()));
        self
    }

    pub fn metric(mut self, name: &'static str, unit: Unit, value: impl TryInto<u64>) -> Self {
        self.metrics
            .push((name, unit, value.try_into().unwrap_or(u64::MAX)));
        self
    }

    /// The line, with one dimension set per prefix of the dimensions: a figure about an
    /// index counts for the function too.
    pub fn to_json(&self, timestamp_millis: i64) -> String {
        let names: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        let dimension_sets: Vec<&[&str]> = (1..=names.len()).map(|end| &names[..end]).collect();
        let mut line = Map::new();
        line.insert(
            "_aws".to_string(),
            json!({
                "Timestamp": timestamp_millis,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimension_sets,
                    "Metrics": self.metrics.iter()
                        .map(|(name, unit, _)| match unit.name() {
                            // A count is CloudWatch's unitless default: leaving the unit
                            // out saves about 15 log bytes a metric, every invocation.
                            None => json!({"Name": name}),
                            Some(unit) => json!({"Name": name, "Unit": unit}),
                        })
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            line.insert(name.to_string(), Value::from(value.as_str()));
        }
        for (name, _, value) in &self.metrics {
            line.insert(name.to_string(), Value::from(*value));
        }
        Value::Object(line).to_string()
    }
}

/// An indexer invocation's lines: the batch's, then one per index it touched. A batch of one
/// index (the usual FIFO batch) is one line, with both: each line's directive costs about
/// 500 log bytes.
pub fn indexer_lines(outcome: &BatchOutcome, function_name: &str) -> Vec<MetricLine> {
    let by_index = outcome.by_index();
    let set_aside_elsewhere = outcome
        .set_aside
        .iter()
        .filter(|set_aside| set_aside.index_id.is_none())
        .count();
    let batch = |line: MetricLine, set_aside: usize| {
        line.metric("Messages", Unit::Count, outcome.num_messages)
            .metric(
                "MessagesFailed",
                Unit::Count,
                outcome.failed_message_ids.len(),
            )
            .metric(
                "MessagesDeadLettered",
                Unit::Count,
                outcome.dead_lettered.len(),
            )
            .metric("MessagesSetAside", Unit::Count, set_aside)
            .metric(
                "BatchDuration",
                Unit::Milliseconds,
                outcome.elapsed_micros / 1000,
            )
    };
    let index = |index_id: &str, activity: &IndexActivity| {
        MetricLine::new(function_name)
            .dimension("IndexId", index_id)
            .metric("ObjectsIndexed", Unit::Count, activity.objects_indexed)
            .metric("DocsIndexed", Unit::Count, activity.docs)
            .metric("RecordsRejected", Unit::Count, activity.rejected)
            .metric("BytesRead", Unit::Bytes, activity.bytes_read)
            .metric("SplitsPublished", Unit::Count, activity.splits_published)
            .metric("Merges", Unit::Count, activity.merges)
            .metric("SplitsDeleted", Unit::Count, activity.splits_deleted)
    };
    if by_index.len() == 1 && set_aside_elsewhere == 0 {
        let (index_id, activity) = by_index.iter().next().expect("one index");
        return vec![batch(
            index(index_id, activity),
            activity.messages_set_aside,
        )];
    }
    let mut lines = vec![batch(MetricLine::new(function_name), set_aside_elsewhere)];
    for (index_id, activity) in &by_index {
        lines.push(index(index_id, activity).metric(
            "MessagesSetAside",
            Unit::Count,
            activity.messages_set_aside,
        ));
    }
    lines
}

/// A searcher invocation's line: by status class, its latency and what it read.
pub fn searcher_line(
    function_name: &str,
    status: u16,
    latency_millis: u64,
    cost: &RequestCost,
) -> MetricLine {
    let mut line = MetricLine::new(function_name);
    if let Some(index_id) = cost.index_id() {
        line = line.dimension("IndexId", index_id);
    }
    let stats = &cost.stats;
    line = line
        .metric("Requests", Unit::Count, 1)
        .metric(
            "ClientErrors",
            Unit::Count,
            u64::from((400..500).contains(&status)),
        )
        .metric("ServerErrors", Unit::Count, u64::from(status >= 500))
        .metric("Latency", Unit::Milliseconds, latency_millis)
        .metric("Searches", Unit::Count, cost.searches)
        .metric("SplitsSearched", Unit::Count, stats.splits_searched)
        .metric("SplitsPruned", Unit::Count, stats.splits_pruned)
        .metric("SplitsFromCache", Unit::Count, stats.splits_from_cache)
        .metric("StorageGets", Unit::Count, stats.reads.storage_gets)
        .metric("StorageBytes", Unit::Bytes, stats.reads.storage_bytes)
        .metric("CacheHits", Unit::Count, stats.reads.cache_hits)
        .metric("StorageRoundTrips", Unit::Count, stats.reads.round_trips);
    // Only searches that fanned out say so: the common line stays as short as it was.
    if cost.leaf_invocations > 0 {
        line = line
            .metric("LeafInvocations", Unit::Count, cost.leaf_invocations)
            .metric("LeafFailures", Unit::Count, cost.leaf_failures);
    }
    line
}

/// A leaf invocation's line. What it read is counted once, in its root's line (the leaf's
/// answer carries it there), so here only that it ran and how long it took.
pub fn leaf_line(
    function_name: &str,
    index_id: Option<&str>,
    status: u16,
    latency_millis: u64,
) -> MetricLine {
    let mut line = MetricLine::new(function_name);
    if let Some(index_id) = index_id {
        line = line.dimension("IndexId", index_id);
    }
    line.metric("LeafSearches", Unit::Count, 1)
        .metric("LeafErrors", Unit::Count, u64::from(status >= 400))
        .metric("LeafLatency", Unit::Milliseconds, latency_millis)
}

/// Milliseconds since the epoch, for the lines' timestamps.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use hydrant_ingest::batch::{IndexActivity, SetAside};

    use super::*;

    fn names(line: &MetricLine) -> Vec<&str> {
        line.metrics.iter().map(|(name, _, _)| *name).collect()
    }

    #[test]
    fn a_batch_of_one_index_is_one_line_and_of_two_is_three() {
        let mut outcome = BatchOutcome {
            num_messages: 3,
            ..BatchOutcome::default()
        };
        let activity = IndexActivity {
            docs: 7,
            ..IndexActivity::default()
        };
        outcome
            .indexing_by_index
            .insert("logs".to_string(), activity.clone());
        let lines = indexer_lines(&outcome, "stack-indexer");
        assert_eq!(lines.len(), 1);
        let value: Value = serde_json::from_str(&lines[0].to_json(0)).unwrap();
        assert_eq!(value["DocsIndexed"], 7);
        assert_eq!(value["Messages"], 3);
        assert_eq!(value["IndexId"], "logs");
        assert_eq!(value["FunctionName"], "stack-indexer");

        outcome
            .indexing_by_index
            .insert("audit".to_string(), activity);
        outcome.set_aside.push(SetAside {
            message_id: "m".to_string(),
            index_id: None,
            reason: "unroutable".to_string(),
            record: "errors/set-aside/m.json".to_string(),
        });
        let lines = indexer_lines(&outcome, "stack-indexer");
        assert_eq!(lines.len(), 3);
        assert!(names(&lines[0]).contains(&"BatchDuration"));
        assert!(!names(&lines[0]).contains(&"DocsIndexed"));
        let batch: Value = serde_json::from_str(&lines[0].to_json(0)).unwrap();
        assert_eq!(batch["MessagesSetAside"], 1);
        assert!(batch.get("IndexId").is_none());
        for line in &lines[1..] {
            let value: Value = serde_json::from_str(&line.to_json(0)).unwrap();
            assert_eq!(value["DocsIndexed"], 7);
            assert_eq!(value["MessagesSetAside"], 0);
        }
    }

    #[test]
    fn searcher_lines_count_status_classes() {
        let cost = RequestCost::default();
        for (status, client, server) in [(200, 0, 0), (404, 1, 0), (503, 0, 1)] {
            let value: Value =
                serde_json::from_str(&searcher_line("s", status, 5, &cost).to_json(0)).unwrap();
            assert_eq!(
                (
                    value["ClientErrors"].as_u64(),
                    value["ServerErrors"].as_u64()
                ),
                (Some(client), Some(server))
            );
            // No index searched (a 404 before any search, `_cat/indices`): the function only.
            assert_eq!(
                value["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["FunctionName"]])
            );
        }
    }
}
