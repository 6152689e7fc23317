//! What the measured work costs on AWS: durations, memory sizes and request counts from a
//! run, priced at published list prices.
//!
//! Every price is here, in one place, with where it comes from. They are us-east-1 list
//! prices without free tier; check them against the AWS pricing pages before relying on an
//! estimate, and update [`PRICES_AS_OF`] with them.
//!
//! ```
//! use hydrant_loadtest::cost::{CostEstimate, CostInputs};
//!
//! let estimate = CostEstimate::from_inputs(&CostInputs {
//!     ingested_uncompressed_bytes: 1_000_000_000,
//!     indexer_seconds: 10.0,
//!     indexer_invocations: 100,
//!     indexing_reads: 500,
//!     indexing_writes: 400,
//!     index_bytes: 150_000_000,
//!     searcher_seconds_per_cold_query: 0.3,
//!     searcher_seconds_per_warm_query: 0.005,
//!     gets_per_cold_query: 300.0,
//!     gets_per_warm_query: 0.0,
//! });
//! assert!(estimate.per_gb_ingested.total > 0.0);
//! assert!(estimate.per_thousand_cold_queries.total > estimate.per_thousand_warm_queries.total);
//! ```

use serde::Serialize;

/// When the prices below were taken from the AWS pricing pages (and the shared reference).
pub const PRICES_AS_OF: &str = "2025, us-east-1 list prices";

/// Lambda on arm64, per GB-second of configured memory.
pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda, per request.
pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
/// S3 Standard GET and HEAD, per request.
pub const S3_GET_PER_REQUEST: f64 = 0.0004 / 1e3;
/// S3 Standard PUT, COPY, POST and LIST, per request.
pub const S3_PUT_PER_REQUEST: f64 = 0.005 / 1e3;
/// S3 Standard storage, per GB-month.
pub const S3_STORAGE_PER_GB_MONTH: f64 = 0.023;
/// SQS FIFO, per request (64 KB chunk).
pub const SQS_FIFO_PER_REQUEST: f64 = 0.50 / 1e6;
/// API Gateway REST API, per request (first 333 million a month).
pub const API_GATEWAY_REST_PER_REQUEST: f64 = 3.50 / 1e6;

/// Memory of the indexer and searcher functions: the template's defaults.
pub const INDEXER_MEMORY_MB: f64 = 1769.0;
pub const SEARCHER_MEMORY_MB: f64 = 1769.0;

/// SQS requests per indexer invocation: a receive (by the event source mapping) and a delete
/// for the batch, and the EventBridge send of each message (one per object here).
const SQS_REQUESTS_PER_INVOCATION: f64 = 3.0;

/// What a run measured that costs money.
#[derive(Clone, Debug)]
pub struct CostInputs {
    pub ingested_uncompressed_bytes: u64,
    /// Indexer time, indexing and maintenance together.
    pub indexer_seconds: f64,
    pub indexer_invocations: u64,
    /// S3 GETs and HEADs of indexing and maintenance (staging and index buckets).
    pub indexing_reads: u64,
    /// S3 PUTs and LISTs of indexing and maintenance.
    pub indexing_writes: u64,
    /// Index bytes stored for the ingested data.
    pub index_bytes: u64,
    pub searcher_seconds_per_cold_query: f64,
    pub searcher_seconds_per_warm_query: f64,
    pub gets_per_cold_query: f64,
    pub gets_per_warm_query: f64,
}

/// One priced line group.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bill {
    pub lambda_compute: f64,
    pub lambda_requests: f64,
    pub s3_requests: f64,
    pub queue_or_gateway: f64,
    pub total: f64,
}

impl Bill {
    fn new(
        lambda_compute: f64,
        lambda_requests: f64,
        s3_requests: f64,
        queue_or_gateway: f64,
    ) -> Self {
        Bill {
            lambda_compute,
            lambda_requests,
            s3_requests,
            queue_or_gateway,
            total: lambda_compute + lambda_requests + s3_requests + queue_or_gateway,
        }
    }
}

/// Dollars per unit of work.
#[derive(Clone, Debug, Serialize)]
pub struct CostEstimate {
    pub prices_as_of: String,
    pub per_gb_ingested: Bill,
    /// Index storage of one ingested GB, per month.
    pub storage_per_gb_ingested_month: f64,
    pub per_thousand_cold_queries: Bill,
    pub per_thousand_warm_queries: Bill,
}

impl CostEstimate {
    pub fn from_inputs(inputs: &CostInputs) -> Self {
        let gigabytes = (inputs.ingested_uncompressed_bytes as f64 / 1e9).max(1e-9);
        let invocations = inputs.indexer_invocations as f64;
        let ingest = Bill::new(
            inputs.indexer_seconds * INDEXER_MEMORY_MB / 1024.0 * LAMBDA_ARM64_PER_GB_SECOND,
            invocations * LAMBDA_PER_REQUEST,
            inputs.indexing_reads as f64 * S3_GET_PER_REQUEST
                + inputs.indexing_writes as f64 * S3_PUT_PER_REQUEST,
            invocations * SQS_REQUESTS_PER_INVOCATION * SQS_FIFO_PER_REQUEST,
        );
        let per_gb = Bill::new(
            ingest.lambda_compute / gigabytes,
            ingest.lambda_requests / gigabytes,
            ingest.s3_requests / gigabytes,
            ingest.queue_or_gateway / gigabytes,
        );
        let queries = |seconds: f64, gets: f64| {
            Bill::new(
                1000.0 * seconds * SEARCHER_MEMORY_MB / 1024.0 * LAMBDA_ARM64_PER_GB_SECOND,
                1000.0 * LAMBDA_PER_REQUEST,
                1000.0 * gets * S3_GET_PER_REQUEST,
                1000.0 * API_GATEWAY_REST_PER_REQUEST,
            )
        };
        CostEstimate {
            prices_as_of: PRICES_AS_OF.to_string(),
            per_gb_ingested: per_gb,
            storage_per_gb_ingested_month: inputs.index_bytes as f64 / 1e9 / gigabytes
                * S3_STORAGE_PER_GB_MONTH,
            per_thousand_cold_queries: queries(
                inputs.searcher_seconds_per_cold_query,
                inputs.gets_per_cold_query,
            ),
            per_thousand_warm_queries: queries(
                inputs.searcher_seconds_per_warm_query,
                inputs.gets_per_warm_query,
            ),
        }
    }

    /// The estimate printed like a bill.
    pub fn bill(&self) -> String {
        let mut text = format!(
            "Cost model ({}; indexer {INDEXER_MEMORY_MB:.0} MB, searcher {SEARCHER_MEMORY_MB:.0} MB, arm64)\n",
            self.prices_as_of
        );
        let mut group = |title: &str, bill: &Bill, queue: &str| {
            text.push_str(&format!("  {title}\n"));
            for (name, amount) in [
                ("Lambda compute", bill.lambda_compute),
                ("Lambda requests", bill.lambda_requests),
                ("S3 requests", bill.s3_requests),
                (queue, bill.queue_or_gateway),
            ] {
                text.push_str(&format!("    {name:<28} ${amount:>10.5}\n"));
            }
            text.push_str(&format!("    {:<28} ${:>10.5}\n", "total", bill.total));
        };
        group(
            "per GB ingested (uncompressed)",
            &self.per_gb_ingested,
            "SQS FIFO",
        );
        group(
            "per 1,000 cold queries",
            &self.per_thousand_cold_queries,
            "API Gateway (REST)",
        );
        group(
            "per 1,000 warm queries",
            &self.per_thousand_warm_queries,
            "API Gateway (REST)",
        );
        text.push_str(&format!(
            "  index storage per GB ingested     ${:>10.5} a month\n",
            self.storage_per_gb_ingested_month
        ));
        text
    }
}
