//! `loadtest dashboard`: what a Grafana dashboard costs. One `_msearch` as Grafana's Quickwit
//! data source sends it (a logs panel, a date histogram and a terms panel over the dashboard's
//! time range) through the Elasticsearch API, over one split per Firehose object, with latency
//! injected on every storage request to model S3: cold (a new searcher each run, as a cold
//! Lambda), warm (the same searcher again) and warm with results recomputed (no result
//! caches). The baseline, in the same run: a scan of the raw gzip objects computing the same
//! three panels, whose counts must agree with the index's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hydrant_search::http::HttpRequest;
use hydrant_search::router;
use hydrant_search::{SearchService, SearcherConfig};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bench::{Bench, BenchConfig, BenchProgress, Generated};
use crate::error::{LoadtestError, Result};
use crate::measure::{Percentiles, check, machine_description, visit_records};

/// The logs panel's query, and how many lines it shows.
const LOGS_QUERY: &str = "status:500";
const LOGS_SIZE: usize = 100;
/// One histogram bucket per minute: one per Firehose object.
const HISTOGRAM_INTERVAL_MS: i64 = 60_000;
const TERMS_FIELD: &str = "status";

/// What was measured.
#[derive(Debug, Serialize)]
pub struct DashboardReport {
    pub machine: String,
    pub started_at: String,
    pub splits: usize,
    pub docs: u64,
    pub injected_latency_ms: f64,
    pub cold: Percentiles,
    pub warm: Percentiles,
    pub recomputed: Percentiles,
    /// Storage GETs of one cold `_msearch`.
    pub cold_gets: u64,
    /// Storage round trips on the longest split path of one cold `_msearch` (its panels run
    /// at the same time), footer to documents; the metastore's come before.
    pub cold_round_trips: u64,
    pub raw_scan: Percentiles,
    pub logs_hits: u64,
    pub histogram_buckets: usize,
    pub terms_buckets: usize,
}

impl DashboardReport {
    /// The figures for a person.
    pub fn table(&self) -> String {
        let line = |name: &str, p: &Percentiles| {
            format!(
                "  {name:<28} p50 {:>8.1} ms  p95 {:>8.1} ms  p99 {:>8.1} ms  ({} runs)\n",
                p.p50_ms, p.p95_ms, p.p99_ms, p.samples
            )
        };
        let mut table = format!(
            "Dashboard _msearch (logs `{LOGS_QUERY}` top {LOGS_SIZE} + date histogram + terms on \
             `{TERMS_FIELD}`): {} splits, {} docs, {} ms injected per storage request\n",
            self.splits, self.docs, self.injected_latency_ms
        );
        table += &line("cold (new searcher)", &self.cold);
        table += &line("warm (same searcher)", &self.warm);
        table += &line("warm, results recomputed", &self.recomputed);
        table += &line("raw gzip scan, same panels", &self.raw_scan);
        table += &format!(
            "  cold: {} GETs, {} round trips on a split's path after the metastore's; {:.1}x \
             faster than the raw scan; warm {:.0}x; panels: {} log lines, {} histogram buckets, \
             {} terms (equal to the scan's)\n",
            self.cold_gets,
            self.cold_round_trips,
            self.raw_scan.p50_ms / self.cold.p50_ms,
            self.raw_scan.p50_ms / self.warm.p50_ms,
            self.logs_hits,
            self.histogram_buckets,
            self.terms_buckets,
        );
        table
    }
}

/// Generates the objects, indexes one split per object, then measures the dashboard.
pub async fn run(
    config: &BenchConfig,
    runs: usize,
    progress: &dyn BenchProgress,
) -> Result<DashboardReport> {
    let started_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let bench = Bench::new(config, progress)?;
    let generated = bench.generate().await?;
    let (_, stream_index) = bench.stream(&generated).await?;
    let index_id = crate::generator::Dataset::WebLogs.index_id();
    let metadata = stream_index.metastore.index_metadata(index_id).await?;
    let body = msearch_body(index_id, generated.time_span);

    progress.phase("dashboard _msearch", (4 * runs + 1) as u64);
    stream_index.storage.set_latency(config.injected_latency);
    bench.staging.set_latency(config.injected_latency);
    let mut cold = Vec::with_capacity(runs);
    let mut cold_gets = 0;
    let mut cold_round_trips = 0;
    let mut first = None;
    for _ in 0..runs {
        let searcher =
            SearchService::new(stream_index.metastore.clone(), SearcherConfig::default());
        let gets_before = stream_index.storage.num_reads();
        let started = Instant::now();
        let (answer, cost) = hydrant_search::cost::measure(msearch(&searcher, &body)).await;
        cold.push(started.elapsed());
        let answer = answer?;
        cold_gets = stream_index.storage.num_reads() - gets_before;
        cold_round_trips = cost.stats.reads.round_trips;
        first.get_or_insert(answer);
        progress.step();
    }
    let warm_searcher =
        SearchService::new(stream_index.metastore.clone(), SearcherConfig::default());
    let warm = timed(&warm_searcher, &body, runs, progress).await?;
    let uncached = SearcherConfig {
        leaf_cache_bytes: 1,
        doc_cache_bytes: 1,
        ..SearcherConfig::default()
    };
    let recomputing = SearchService::new(stream_index.metastore.clone(), uncached);
    let recomputed = timed(&recomputing, &body, runs, progress).await?;
    let mut scans = Vec::with_capacity(runs);
    let mut scanned = None;
    for _ in 0..runs {
        let started = Instant::now();
        scanned = Some(scan_panels(&bench, &generated).await?);
        scans.push(started.elapsed());
        progress.step();
    }
    stream_index.storage.set_latency(Duration::ZERO);
    bench.staging.set_latency(Duration::ZERO);

    let answer = first.ok_or_else(|| LoadtestError::Check("no cold run".to_string()))?;
    let scanned = scanned.ok_or_else(|| LoadtestError::Check("no scan run".to_string()))?;
    let (logs_hits, histogram_buckets, terms_buckets) = check_panels(&answer, &scanned)?;
    Ok(DashboardReport {
        machine: machine_description(),
        started_at,
        splits: metadata.published_splits().count(),
        docs: metadata.num_published_docs(),
        injected_latency_ms: config.injected_latency.as_secs_f64() * 1e3,
        cold: Percentiles::of(&cold),
        warm: Percentiles::of(&warm),
        recomputed: Percentiles::of(&recomputed),
        cold_gets,
        cold_round_trips,
        raw_scan: Percentiles::of(&scans),
        logs_hits,
        histogram_buckets,
        terms_buckets,
    })
}

async fn timed(
    searcher: &SearchService,
    body: &str,
    runs: usize,
    progress: &dyn BenchProgress,
) -> Result<Vec<Duration>> {
    msearch(searcher, body).await?;
    progress.step();
    let mut timings = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        msearch(searcher, body).await?;
        timings.push(started.elapsed());
        progress.step();
    }
    Ok(timings)
}

/// The three panels' NDJSON, as the data source writes it: the time range as RFC 3339 in a
/// bool filter, the panel's query as a `query_string`.
pub(crate) fn msearch_body(index_id: &str, (start_millis, end_millis): (i64, i64)) -> String {
    let rfc3339 = |millis: i64| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .ok()
            .and_then(|time| time.format(&Rfc3339).ok())
            .unwrap_or_default()
    };
    let filter = |query: &str| {
        json!({"bool": {"filter": [
            {"range": {"timestamp": {"gte": rfc3339(start_millis), "lte": rfc3339(end_millis)}}},
            {"query_string": {"query": query, "default_operator": "AND"}},
        ]}})
    };
    let header = json!({"ignore_unavailable": true, "index": [index_id]});
    let logs = json!({
        "size": LOGS_SIZE,
        "query": filter(LOGS_QUERY),
        "sort": [{"timestamp": {"order": "desc", "format": "epoch_nanos_int"}}],
    });
    let histogram = json!({
        "size": 0,
        "query": filter("*"),
        "aggs": {"2": {"date_histogram": {
            "field": "timestamp",
            "fixed_interval": format!("{HISTOGRAM_INTERVAL_MS}ms"),
            "min_doc_count": 0,
            "extended_bounds": {"min": start_millis, "max": end_millis},
        }}},
    });
    let terms = json!({
        "size": 0,
        "query": filter("*"),
        "aggs": {"3": {"terms": {"field": TERMS_FIELD, "size": 20, "order": {"_count": "desc"}}}},
    });
    [&header, &logs, &header, &histogram, &header, &terms]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect()
}

async fn msearch(searcher: &SearchService, body: &str) -> Result<Value> {
    let request = HttpRequest::new(
        "POST",
        "/api/v1/_elastic/_msearch",
        Some("max_concurrent_shard_requests=5"),
        body.as_bytes(),
    );
    let response = router::handle(searcher, None, request).await;
    let answer: Value = serde_json::from_slice(&response.body_bytes())
        .map_err(|error| LoadtestError::Check(format!("_msearch answer: {error}")))?;
    check(response.status == 200, || {
        format!("_msearch failed: {answer}")
    })?;
    for panel in answer["responses"].as_array().into_iter().flatten() {
        check(panel["status"] == 200, || {
            format!("a panel failed: {panel}")
        })?;
    }
    Ok(answer)
}

/// The panels as a scan of the raw objects computes them.
#[derive(Debug, Default)]
struct ScannedPanels {
    logs_total: u64,
    /// The newest matching lines' timestamps (milliseconds), newest first.
    newest_logs: Vec<i64>,
    histogram: BTreeMap<i64, u64>,
    terms: BTreeMap<u64, u64>,
}

async fn scan_panels(bench: &Bench<'_>, generated: &Generated) -> Result<ScannedPanels> {
    let (start, end) = generated.time_span;
    let parts: Vec<Result<ScannedPanels>> = futures::stream::iter(generated.keys.iter().cloned())
        .map(|key| {
            let staging = bench.staging.clone();
            async move {
                let bytes = hydrant_storage::Storage::get(staging.as_ref(), &key)
                    .await?
                    .bytes;
                tokio::task::spawn_blocking(move || scan_object(&bytes, start, end))
                    .await
                    .map_err(|error| LoadtestError::Check(format!("scan task failed: {error}")))?
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut panels = ScannedPanels::default();
    for part in parts {
        let part = part?;
        panels.logs_total += part.logs_total;
        panels.newest_logs.extend(part.newest_logs);
        for (key, count) in part.histogram {
            *panels.histogram.entry(key).or_default() += count;
        }
        for (key, count) in part.terms {
            *panels.terms.entry(key).or_default() += count;
        }
    }
    panels
        .newest_logs
        .sort_unstable_by(|left, right| right.cmp(left));
    panels.newest_logs.truncate(LOGS_SIZE);
    Ok(panels)
}

fn scan_object(gzip: &[u8], start: i64, end: i64) -> Result<ScannedPanels> {
    let mut panels = ScannedPanels::default();
    visit_records(gzip, |millis, record| {
        if millis < start || millis > end {
            return;
        }
        let status = record["status"].as_u64();
        *panels
            .histogram
            .entry(millis.div_euclid(HISTOGRAM_INTERVAL_MS) * HISTOGRAM_INTERVAL_MS)
            .or_default() += 1;
        if let Some(status) = status {
            *panels.terms.entry(status).or_default() += 1;
        }
        if status == Some(500) {
            panels.logs_total += 1;
            panels.newest_logs.push(millis);
        }
    })?;
    panels
        .newest_logs
        .sort_unstable_by(|left, right| right.cmp(left));
    panels.newest_logs.truncate(LOGS_SIZE);
    Ok(panels)
}

/// The index's panels equal the scan's: log count and newest lines, every non-empty minute's
/// count, every status's count. Returns the panel sizes.
fn check_panels(answer: &Value, scanned: &ScannedPanels) -> Result<(u64, usize, usize)> {
    let panels = &answer["responses"];
    let logs = &panels[0]["hits"];
    let logs_total = logs["total"]["value"].as_u64().unwrap_or(0);
    check(logs_total == scanned.logs_total, || {
        format!(
            "logs: the index counts {logs_total}, the scan {}",
            scanned.logs_total
        )
    })?;
    let newest: Vec<i64> = logs["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hit| hit["sort"][0].as_i64())
        .map(|nanos| nanos.div_euclid(1_000_000))
        .collect();
    check(newest == scanned.newest_logs, || {
        "logs: the newest lines differ from the scan's".to_string()
    })?;
    let buckets = panels[1]["aggregations"]["2"]["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let histogram: BTreeMap<i64, u64> = buckets
        .iter()
        .filter_map(|bucket| {
            let count = bucket["doc_count"].as_u64()?;
            (count > 0).then(|| (bucket["key"].as_f64().unwrap_or(0.0) as i64, count))
        })
        .collect();
    check(histogram == scanned.histogram, || {
        "date histogram: the buckets differ from the scan's".to_string()
    })?;
    let terms: BTreeMap<u64, u64> = panels[2]["aggregations"]["3"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|bucket| {
            Some((
                bucket["key"].as_f64()? as u64,
                bucket["doc_count"].as_u64()?,
            ))
        })
        .collect();
    check(terms == scanned.terms, || {
        format!(
            "terms: {terms:?} differ from the scan's {:?}",
            scanned.terms
        )
    })?;
    Ok((newest.len() as u64, buckets.len(), terms.len()))
}
