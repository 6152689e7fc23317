//! `loadtest stream`: a Firehose stream into a [`Target`], measured end to end.
//!
//! Objects of web logs are delivered one at a time (at a set interval, or back to back), as
//! Firehose delivers them; a watcher counts the index's documents through the target's search
//! and records, for every object, how long after it landed its documents were all searchable.
//! Then the query mix runs through the same search, and every count is checked against the
//! records delivered. The index must end with exactly the good records delivered: none lost,
//! none indexed twice, no bad one indexed.
//!
//! The same code drives every target, so a figure taken locally and one taken on a deployed
//! stack measure the same thing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bench::BenchProgress;
use crate::error::{LoadtestError, Result};
use crate::firehose::{Framing, object_key};
use crate::generator::{Dataset, ObjectGenerator, ObjectSpec};
use crate::measure::{DatasetFigures, Percentiles, check, machine_description, visit_records};
use crate::query_mix::{MixQuery, QUERY_MIX, request_body};
use crate::target::Target;

/// What to deliver.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub num_objects: usize,
    pub records_per_object: usize,
    /// Time between deliveries (Firehose's buffering interval); zero: back to back.
    pub interval: Duration,
    pub bad_share: f64,
    pub late_share: f64,
    /// Runs of each query of the mix.
    pub query_runs: usize,
    /// An object not searchable this long after it landed fails the run.
    pub searchable_timeout: Duration,
    /// Key prefix in the staging bucket (the delivery stream's `Prefix`).
    pub prefix: String,
    pub seed: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            num_objects: 20,
            records_per_object: 10_000,
            interval: Duration::ZERO,
            bad_share: 0.001,
            late_share: 0.005,
            query_runs: 10,
            searchable_timeout: Duration::from_secs(300),
            prefix: "firehose/".to_string(),
            seed: 42,
        }
    }
}

/// Documents from the first object landed to the last one searchable.
#[derive(Clone, Debug, Serialize)]
pub struct EndToEndFigures {
    pub docs: u64,
    pub secs: f64,
    pub docs_per_sec: f64,
    /// Uncompressed megabytes of records per second.
    pub mb_per_sec: f64,
    /// Time to put the objects (generation included).
    pub delivery_secs: f64,
}

/// The index after the stream.
#[derive(Clone, Debug, Serialize)]
pub struct StreamIndexFigures {
    pub splits: u64,
    pub docs: u64,
    pub split_bytes: u64,
    /// Split bytes per gzip byte delivered (when the index started empty).
    pub index_bytes_per_gzip_byte: Option<f64>,
}

/// One query of the mix, run `runs` times.
#[derive(Clone, Debug, Serialize)]
pub struct StreamQueryRow {
    pub name: String,
    pub query: String,
    pub num_hits: u64,
    /// What the delivered records say it must count (when the index started empty).
    pub expected_hits: Option<u64>,
    /// The first run: the searcher has not read this query's data yet.
    pub first_ms: f64,
    pub latency: Percentiles,
    /// Storage GETs and bytes of the first run, when the searcher reports them.
    pub first_gets: Option<u64>,
    pub first_bytes: Option<u64>,
}

/// Everything one stream measured.
#[derive(Clone, Debug, Serialize)]
pub struct StreamReport {
    pub target: String,
    pub machine: String,
    pub started_at: String,
    pub total_secs: f64,
    pub dataset: DatasetFigures,
    /// Documents the index held before the run.
    pub docs_before: u64,
    pub end_to_end: EndToEndFigures,
    /// Object landed → all its documents searchable.
    pub freshness: Percentiles,
    pub index: StreamIndexFigures,
    pub queries: Vec<StreamQueryRow>,
    /// Every run of every query.
    pub query_latency: Percentiles,
}

/// A delivered object, as the watcher sees it.
struct Delivered {
    landed: Instant,
    /// Good records delivered up to and including this object.
    docs_through: u64,
}

/// Streams into `target`, measures, checks. The target is left running.
pub async fn run(
    config: &StreamConfig,
    target: &Target,
    progress: &dyn BenchProgress,
) -> Result<StreamReport> {
    let started = Instant::now();
    let started_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let stream = StreamRun {
        config,
        target,
        progress,
        docs_before: count_all(target).await?,
        delivered: Mutex::new(Vec::with_capacity(config.num_objects)),
    };
    progress.phase(
        &format!("streaming {} objects; searchable", config.num_objects),
        config.num_objects as u64,
    );
    let (delivery, (freshness, all_searchable)) =
        tokio::try_join!(stream.deliver_all(), stream.watch_freshness())?;
    let first_landed = stream
        .delivered
        .lock()
        .expect("not poisoned")
        .first()
        .map_or(all_searchable, |object| object.landed);
    let docs_before = stream.docs_before;
    let dataset = &delivery.dataset;

    // Nothing lost, nothing twice: the count settles on exactly the good records delivered.
    let new_docs = count_all(target).await? - docs_before;
    check(new_docs == dataset.good_records, || {
        format!(
            "the index has {new_docs} new documents, {} good records were delivered",
            dataset.good_records
        )
    })?;
    let end_secs = (all_searchable - first_landed).as_secs_f64().max(1e-3);
    let end_to_end = EndToEndFigures {
        docs: new_docs,
        secs: end_secs,
        docs_per_sec: new_docs as f64 / end_secs,
        mb_per_sec: dataset.uncompressed_bytes as f64 / 1e6 / end_secs,
        delivery_secs: delivery.elapsed.as_secs_f64(),
    };
    let summary = target.index_summary().await?;
    let index = StreamIndexFigures {
        splits: summary.splits,
        docs: summary.docs,
        split_bytes: summary.split_bytes,
        index_bytes_per_gzip_byte: (docs_before == 0)
            .then(|| summary.split_bytes as f64 / dataset.gzip_bytes.max(1) as f64),
    };
    let (queries, all_runs) = stream.query_mix(&delivery).await?;
    Ok(StreamReport {
        target: target.description.clone(),
        machine: machine_description(),
        started_at,
        total_secs: started.elapsed().as_secs_f64(),
        dataset: delivery.dataset,
        docs_before,
        end_to_end,
        freshness: Percentiles::of(&freshness),
        index,
        queries,
        query_latency: Percentiles::of(&all_runs),
    })
}

/// One stream run: what delivery and the watcher share.
struct StreamRun<'a> {
    config: &'a StreamConfig,
    target: &'a Target,
    progress: &'a dyn BenchProgress,
    /// Documents the index had before: only a fresh index can be checked record by record.
    docs_before: u64,
    /// Objects delivered so far, appended by delivery and read by the watcher.
    delivered: Mutex<Vec<Delivered>>,
}

/// What delivery produced: the dataset, per query of the mix the timestamps of the good
/// records it matches, and the records' time span.
struct Delivery {
    elapsed: Duration,
    dataset: DatasetFigures,
    matching: Vec<Vec<i64>>,
    time_span: (i64, i64),
}

impl StreamRun<'_> {
    /// Generates and delivers the objects at the configured pace, as Firehose would.
    async fn deliver_all(&self) -> Result<Delivery> {
        let (config, target) = (self.config, self.target);
        let mut generator = ObjectGenerator::for_dataset(Dataset::WebLogs, config.seed);
        let mut dataset = DatasetFigures::new(config.num_objects);
        // Per query of the mix, the timestamps of the good records it matches.
        let mut matching = vec![Vec::new(); QUERY_MIX.len()];
        let mut time_span = (i64::MAX, i64::MIN);
        let delivery_started = Instant::now();
        for number in 0..config.num_objects {
            tokio::time::sleep_until((delivery_started + config.interval * number as u32).into())
                .await;
            let now = OffsetDateTime::now_utc();
            let now_millis = (now.unix_timestamp_nanos() / 1_000_000) as i64;
            // The records of a buffer that has just filled: 1 ms apart, ending now.
            let start_millis = now_millis - config.records_per_object as i64;
            let object = generator.object(ObjectSpec {
                num_records: config.records_per_object,
                bad_share: config.bad_share,
                framing: Framing::NewlineDelimited,
                gzip: true,
                start_millis,
                late_share: config.late_share,
                strict: false,
            });
            visit_records(&object.bytes, |millis, record| {
                time_span = (time_span.0.min(millis), time_span.1.max(millis));
                for (query, matches) in QUERY_MIX.iter().zip(&mut matching) {
                    if (query.matches)(record) {
                        matches.push(millis);
                    }
                }
            })?;
            dataset.add(config.records_per_object, &object);
            let key = object_key(&config.prefix, "web-logs", now);
            target.deliver(&key, object.bytes).await?;
            self.delivered
                .lock()
                .expect("not poisoned")
                .push(Delivered {
                    landed: Instant::now(),
                    docs_through: dataset.good_records,
                });
        }
        Ok(Delivery {
            elapsed: delivery_started.elapsed(),
            dataset,
            matching,
            time_span,
        })
    }

    /// Counts until every delivered object is searchable: each object's freshness, and when
    /// the last became searchable.
    async fn watch_freshness(&self) -> Result<(Vec<Duration>, Instant)> {
        let (config, target, progress) = (self.config, self.target, self.progress);
        let docs_before = self.docs_before;
        let mut freshness = Vec::with_capacity(config.num_objects);
        while freshness.len() < config.num_objects {
            target.check_indexer().await?;
            let pending = self.delivered.lock().expect("not poisoned").len();
            // Counts only while an object is waiting: a paced stream costs few requests.
            if freshness.len() < pending {
                let new_docs = count_all(target).await?.saturating_sub(docs_before);
                let now = Instant::now();
                let delivered = self.delivered.lock().expect("not poisoned");
                for object in &delivered[freshness.len()..] {
                    if new_docs < object.docs_through {
                        break;
                    }
                    freshness.push(now - object.landed);
                    progress.step();
                }
                if let Some(waiting) = delivered.get(freshness.len())
                    && now - waiting.landed > config.searchable_timeout
                {
                    return Err(LoadtestError::Check(format!(
                        "object {} of {} not searchable {} s after it landed: the index has \
                     {new_docs} new documents, {} expected",
                        freshness.len() + 1,
                        config.num_objects,
                        config.searchable_timeout.as_secs(),
                        waiting.docs_through
                    )));
                }
            }
            tokio::time::sleep(target.watch_interval()).await;
        }
        Ok((freshness, Instant::now()))
    }

    /// The query mix through the same search, each query checked against the delivered
    /// records when the index was empty before.
    async fn query_mix(&self, delivery: &Delivery) -> Result<(Vec<StreamQueryRow>, Vec<Duration>)> {
        let config = self.config;
        self.progress.phase(
            "query mix",
            (QUERY_MIX.len() * config.query_runs.max(1)) as u64,
        );
        let mut rows = Vec::with_capacity(QUERY_MIX.len());
        let mut all_runs = Vec::new();
        for (mix_query, matches) in QUERY_MIX.iter().zip(&delivery.matching) {
            let (row, runs) = self
                .measure_query(mix_query, matches, delivery.time_span)
                .await?;
            rows.push(row);
            all_runs.extend(runs);
        }
        Ok((rows, all_runs))
    }

    async fn measure_query(
        &self,
        mix_query: &MixQuery,
        matches: &[i64],
        time_span: (i64, i64),
    ) -> Result<(StreamQueryRow, Vec<Duration>)> {
        let (config, target, progress, docs_before) =
            (self.config, self.target, self.progress, self.docs_before);
        let start_seconds = mix_query.start_seconds(time_span);
        let request = request_body(mix_query.query, start_seconds, true);
        let expected_hits = (docs_before == 0).then(|| {
            let start_millis = start_seconds.map_or(i64::MIN, |seconds| seconds * 1000);
            matches
                .iter()
                .filter(|&&millis| millis >= start_millis)
                .count() as u64
        });
        let mut runs = Vec::with_capacity(config.query_runs);
        let mut first: Option<(u64, Option<(u64, u64)>)> = None;
        for _ in 0..config.query_runs.max(1) {
            let query_started = Instant::now();
            let response = target.search(&request).await?;
            runs.push(query_started.elapsed());
            check(response.errors.is_empty(), || {
                format!("{}: split errors {:?}", mix_query.name, response.errors)
            })?;
            let (num_hits, _) = *first.get_or_insert((
                response.num_hits,
                response
                    .stats
                    .as_ref()
                    .map(|stats| (stats.reads.storage_gets, stats.reads.storage_bytes)),
            ));
            check(response.num_hits == num_hits, || {
                format!(
                    "{}: counted {} hits, then {}",
                    mix_query.name, num_hits, response.num_hits
                )
            })?;
            progress.step();
        }
        let (num_hits, first_stats) = first.unwrap_or_default();
        if let Some(expected) = expected_hits {
            check(num_hits == expected, || {
                format!(
                    "{}: the index counts {num_hits}, the delivered records {expected}",
                    mix_query.name
                )
            })?;
        }
        let row = StreamQueryRow {
            name: mix_query.name.to_string(),
            query: mix_query.query.to_string(),
            num_hits,
            expected_hits,
            first_ms: runs[0].as_secs_f64() * 1e3,
            latency: Percentiles::of(&runs),
            first_gets: first_stats.map(|(gets, _)| gets),
            first_bytes: first_stats.map(|(_, bytes)| bytes),
        };
        Ok((row, runs))
    }
}

/// Documents in the index, by a search that returns none.
async fn count_all(target: &Target) -> Result<u64> {
    let response = target.search(&json!({"query": "*", "max_hits": 0})).await?;
    Ok(response.num_hits)
}

impl StreamReport {
    /// The figures as a readable table.
    pub fn table(&self) -> String {
        let d = &self.dataset;
        let e = &self.end_to_end;
        let f = &self.freshness;
        let mut text = String::new();
        text.push_str(&format!(
            "Hydrant stream into {}\n{} on {} ({:.0} s)\n\n",
            self.target, self.started_at, self.machine, self.total_secs
        ));
        text.push_str(&format!(
            "Delivered: {} objects, {} records ({} bad), {:.1} MB uncompressed, {:.1} MB gzip, in {:.1} s\n",
            d.objects,
            d.records,
            d.bad_records,
            d.uncompressed_bytes as f64 / 1e6,
            d.gzip_bytes as f64 / 1e6,
            e.delivery_secs
        ));
        if self.docs_before > 0 {
            text.push_str(&format!(
                "  the index held {} documents before: hit counts are not checked\n",
                self.docs_before
            ));
        }
        text.push_str(&format!(
            "End to end: {} documents searchable {:.1} s after the first object landed: {:.0} docs/s, {:.1} MB/s\n",
            e.docs, e.secs, e.docs_per_sec, e.mb_per_sec
        ));
        text.push_str(&format!(
            "Freshness (object landed → searchable): p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms over {} objects\n",
            f.p50_ms, f.p95_ms, f.p99_ms, f.samples
        ));
        let i = &self.index;
        text.push_str(&format!(
            "Index: {} splits, {} documents, {:.1} MB{}\n\n",
            i.splits,
            i.docs,
            i.split_bytes as f64 / 1e6,
            i.index_bytes_per_gzip_byte
                .map(|ratio| format!(" ({ratio:.2} bytes per gzip byte)"))
                .unwrap_or_default()
        ));
        text.push_str(&format!(
            "  {:<12} {:<38} {:>8} {:>9} {:>8} {:>8} {:>8} {:>6} {:>9}\n",
            "query", "", "hits", "first ms", "p50 ms", "p95 ms", "p99 ms", "GETs", "KB read"
        ));
        for row in &self.queries {
            text.push_str(&format!(
                "  {:<12} {:<38} {:>8} {:>9.1} {:>8.1} {:>8.1} {:>8.1} {:>6} {:>9}\n",
                row.name,
                row.query,
                row.num_hits,
                row.first_ms,
                row.latency.p50_ms,
                row.latency.p95_ms,
                row.latency.p99_ms,
                row.first_gets
                    .map_or("n/a".to_string(), |gets| gets.to_string()),
                row.first_bytes.map_or("n/a".to_string(), |bytes| format!(
                    "{:.0}",
                    bytes as f64 / 1e3
                ))
            ));
        }
        let q = &self.query_latency;
        text.push_str(&format!(
            "  all {} runs: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms{}\n",
            q.samples,
            q.p50_ms,
            q.p95_ms,
            q.p99_ms,
            if self.docs_before == 0 {
                "; every count equals the delivered records'"
            } else {
                ""
            }
        ));
        text
    }
}
