//! Aggregations, from the request to the answer: the request parsed and checked where it
//! enters ([`AggregationRequest`]), checked against a mapping when planned, collected per split
//! within [`limits`], merged across splits and leaves, and finalized into Elasticsearch's
//! shapes.

use hydrant_index::doc_mapper::{DocMapper, ResolvedField};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tantivy::aggregation::AggregationLimitsGuard;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;

use crate::error::{Result, SearchError};

/// Memory aggregations may use per request, and buckets they may return.
const AGGREGATION_MEMORY_LIMIT: u64 = 500 << 20;
const AGGREGATION_BUCKET_LIMIT: u32 = 65_000;

/// The bounds every aggregation runs within.
pub(crate) fn limits() -> AggregationLimitsGuard {
    AggregationLimitsGuard::new(
        Some(AGGREGATION_MEMORY_LIMIT),
        Some(AGGREGATION_BUCKET_LIMIT),
    )
}

/// An Elasticsearch aggregation request: parsed into tantivy's types and checked once, where it
/// enters, and carried as the JSON it came as (whose key order is stable, unlike the parsed
/// form's), so that leaves and scroll pages receive exactly what was asked.
#[derive(Clone, Debug)]
pub struct AggregationRequest {
    json: Value,
    parsed: Aggregations,
}

impl AggregationRequest {
    /// Parses and checks an aggregation request (`aggs`).
    pub fn parse(json: Value) -> Result<Self> {
        let parsed = serde_json::from_value::<Aggregations>(json.clone())
            .map_err(|error| SearchError::InvalidRequest(format!("aggs: {error}")))?;
        check_aggregation_requests(&parsed, 1)?;
        Ok(AggregationRequest { json, parsed })
    }

    pub fn json(&self) -> &Value {
        &self.json
    }

    pub fn aggregations(&self) -> &Aggregations {
        &self.parsed
    }
}

impl PartialEq for AggregationRequest {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Serialize for AggregationRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AggregationRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AggregationRequest::parse(Value::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)
    }
}

/// Deepest nesting of sub-aggregations a request may have.
pub const MAX_AGGREGATION_DEPTH: usize = 16;

/// Checks the parameters tantivy would only check per split, where a mistake becomes an empty
/// answer instead of a 400: histogram intervals are positive, date histograms have a fixed
/// interval that fits in nanoseconds, and nesting is bounded.
pub(crate) fn check_aggregation_requests(aggregations: &Aggregations, depth: usize) -> Result<()> {
    use tantivy::aggregation::agg_req::AggregationVariants;
    let invalid = |name: &str, message: String| {
        SearchError::InvalidRequest(format!("aggs: `{name}`: {message}"))
    };
    for (name, aggregation) in aggregations {
        if depth > MAX_AGGREGATION_DEPTH {
            return Err(invalid(
                name,
                format!("aggregations nest at most {MAX_AGGREGATION_DEPTH} levels deep"),
            ));
        }
        match &aggregation.agg {
            AggregationVariants::Histogram(histogram)
                if !(histogram.interval.is_finite() && histogram.interval > 0.0) =>
            {
                return Err(invalid(
                    name,
                    format!(
                        "histogram interval must be positive, got {}",
                        histogram.interval
                    ),
                ));
            }
            AggregationVariants::DateHistogram(histogram) => {
                if histogram.interval.is_some() || histogram.calendar_interval.is_some() {
                    return Err(invalid(
                        name,
                        "date_histogram takes `fixed_interval` (`30s`, `1h`, `1d`); `interval` and \
                         `calendar_interval` are not supported"
                            .to_string(),
                    ));
                }
                let Some(interval) = &histogram.fixed_interval else {
                    return Err(invalid(
                        name,
                        "date_histogram needs a `fixed_interval`".to_string(),
                    ));
                };
                fixed_interval_millis(interval).map_err(|message| invalid(name, message))?;
            }
            _ => {}
        }
        check_aggregation_requests(&aggregation.sub_aggregation, depth + 1)?;
    }
    Ok(())
}

/// A date histogram's fixed interval (`90s`, `1h`) in milliseconds: positive, and small enough
/// to be counted in nanoseconds.
pub(crate) fn fixed_interval_millis(interval: &str) -> std::result::Result<i64, String> {
    let digits = interval.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = interval.split_at(digits);
    let millis_per_unit: i64 = match unit {
        "ms" | "milliseconds" => 1,
        "s" | "seconds" => 1_000,
        "m" | "minutes" => 60_000,
        "h" | "hours" => 3_600_000,
        "d" | "days" => 86_400_000,
        _ => {
            return Err(format!(
                "fixed_interval `{interval}` is not a number followed by ms, s, m, h or d"
            ));
        }
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|number| *number > 0)
        .and_then(|number| number.checked_mul(millis_per_unit))
        .filter(|millis| millis.checked_mul(1_000_000).is_some())
        .ok_or_else(|| {
            format!("fixed_interval `{interval}` must be positive and at most ~292 years")
        })
}

/// Aggregations read fast fields: a field that is not one is the caller's mistake (400), not
/// something for every split to fail on.
pub(crate) fn check_aggregation_fields(
    doc_mapper: &DocMapper,
    aggregations: &Aggregations,
) -> Result<()> {
    for name in tantivy::aggregation::agg_req::get_fast_field_names(aggregations) {
        let fast = match doc_mapper.resolve_field(&name) {
            Some(ResolvedField::Mapped(field)) => field.kind.is_fast(),
            Some(ResolvedField::JsonPath { field, .. }) => field.kind.is_fast(),
            None => false,
        };
        if !fast {
            return Err(SearchError::InvalidRequest(format!(
                "aggs: `{name}` is not a fast field (aggregations need `fast: true`)"
            )));
        }
    }
    Ok(())
}

/// Merges intermediate aggregations; a failure is the request's (a field whose type differs
/// between splits, say), as tantivy reports it.
pub(crate) fn merge_aggregations(
    aggregations: Vec<IntermediateAggregationResults>,
) -> Result<Option<IntermediateAggregationResults>> {
    let mut merged: Option<IntermediateAggregationResults> = None;
    for aggregation in aggregations {
        merge_into(&mut merged, aggregation)?;
    }
    Ok(merged)
}

/// Merges one more intermediate result into `merged`.
pub(crate) fn merge_into(
    merged: &mut Option<IntermediateAggregationResults>,
    aggregation: IntermediateAggregationResults,
) -> Result<()> {
    match merged {
        None => *merged = Some(aggregation),
        Some(merged) => merged
            .merge_fruits(aggregation)
            .map_err(|error| SearchError::InvalidRequest(format!("aggs: {error}")))?,
    }
    Ok(())
}

/// The Elasticsearch-shaped results of the request's aggregations, from the merged state
/// (empty buckets when no split matched).
pub(crate) fn finalize_aggregations(
    request_aggs: &Aggregations,
    intermediate: Option<IntermediateAggregationResults>,
) -> Result<Value> {
    let intermediate = intermediate.unwrap_or_default();
    let results = intermediate
        .into_final_result(request_aggs.clone(), limits())
        .map_err(|error| SearchError::InvalidRequest(format!("aggs: {error}")))?;
    serde_json::to_value(results)
        .map_err(|error| SearchError::Internal(format!("aggregation results: {error}")))
}
