//! The benchmark driver's vocabulary, shared by `loadtest bench`, `loadtest stream` and
//! `loadtest indexing`: latency percentiles, what a dataset holds, the records of an object as
//! the indexer sees them, the machine, and the check that voids a run's figures.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{LoadtestError, Result};
use crate::generator::GeneratedObject;

/// Latency percentiles, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut millis: Vec<f64> = samples
            .iter()
            .map(|sample| sample.as_secs_f64() * 1e3)
            .collect();
        millis.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            let rank = (quantile * millis.len() as f64).ceil() as usize;
            millis[rank.clamp(1, millis.len()) - 1]
        };
        Percentiles {
            samples: millis.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            mean_ms: millis.iter().sum::<f64>() / millis.len() as f64,
        }
    }
}

/// The dataset as generated.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetFigures {
    pub objects: usize,
    pub records: u64,
    pub good_records: u64,
    pub bad_records: u64,
    pub uncompressed_bytes: u64,
    pub gzip_bytes: u64,
}

impl DatasetFigures {
    /// Nothing generated yet, `objects` planned.
    pub fn new(objects: usize) -> Self {
        DatasetFigures {
            objects,
            records: 0,
            good_records: 0,
            bad_records: 0,
            uncompressed_bytes: 0,
            gzip_bytes: 0,
        }
    }

    /// Counts a generated object of `num_records` records.
    pub fn add(&mut self, num_records: usize, object: &GeneratedObject) {
        self.records += num_records as u64;
        self.good_records += object.num_good;
        self.bad_records += object.bad.len() as u64;
        self.uncompressed_bytes += object.uncompressed_bytes;
        self.gzip_bytes += object.bytes.len() as u64;
    }
}

/// Calls `visit` with the timestamp (ms) and the value of every record of a gzip object that
/// the indexer accepts: what is not a JSON object with a valid timestamp is not data.
pub fn visit_records(gzip: &[u8], mut visit: impl FnMut(i64, &serde_json::Value)) -> Result<()> {
    for line in BufReader::new(MultiGzDecoder::new(gzip)).lines() {
        let Ok(record @ serde_json::Value::Object(_)) =
            serde_json::from_str::<serde_json::Value>(&line?)
        else {
            continue;
        };
        let Some(millis) = record
            .get("timestamp")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
            .map(|datetime| (datetime.unix_timestamp_nanos() / 1_000_000) as i64)
        else {
            continue;
        };
        visit(millis, &record);
    }
    Ok(())
}

/// The machine a run measured on, for its report: CPUs, memory and CPU model, from `/proc`
/// where it tells.
pub fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / (1 << 20) as f64);
    format!("{cpus} CPUs ({model}), {memory_gib:.0} GiB")
}

/// Fails the benchmark with `message` unless `condition` holds: figures of a run that
/// computed something wrong are void.
pub fn check(condition: bool, message: impl FnOnce() -> String) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(LoadtestError::Check(message()))
    }
}

/// User + system time of a resource usage report (`floor` measures its children's with it,
/// `floor_cost` its own).
pub(crate) fn cpu_seconds_of(usage: &libc::rusage) -> f64 {
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
