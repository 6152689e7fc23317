//! Instruments for `loadtest fanout`, built only with the `bench` feature, never into the
//! packages: the benchmark runs the searcher under `cargo lambda watch`, where the index is on
//! local disk and every invocation is a process of this machine, and needs S3's latency and a
//! cold execution environment in each of them, leaves included.
//!
//! - `HYDRANT_BENCH_STORAGE_LATENCY_MS`: milliseconds added to every index storage request
//!   ([`ThrottledStorage`]), metastore reads included.
//! - `HYDRANT_BENCH_COLD=1`: every invocation searches with new caches, as the first one of a
//!   new execution environment does (without the process start, which `loadtest bench`'s
//!   cold-start figures measure).
//!
//! Each invocation prints one line, `hydrant-bench {"leaf", "millis", "gets"}`: what Lambda
//! would bill (its duration) and the storage GETs it made, all of them.

use std::sync::Arc;
use std::time::Duration;

use hydrant_search::settings::SearcherSettings;
use hydrant_storage::SharedStorage;
use hydrant_storage::testing::ThrottledStorage;

use crate::LambdaError;

/// The prefix of the per-invocation lines.
pub const LINE_PREFIX: &str = "hydrant-bench ";

/// The benchmark's view of one execution environment.
pub struct BenchInstruments {
    storage: Arc<ThrottledStorage>,
    /// With new caches for every invocation: what to build them from.
    cold: Option<SearcherSettings>,
}

impl BenchInstruments {
    /// Wraps the index storage as the environment asks; the storage to search with.
    pub fn from_env(
        settings: &SearcherSettings,
        storage: SharedStorage,
    ) -> Result<(Self, SharedStorage), LambdaError> {
        let latency_ms = match std::env::var("HYDRANT_BENCH_STORAGE_LATENCY_MS") {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                LambdaError::Start(format!(
                    "HYDRANT_BENCH_STORAGE_LATENCY_MS `{text}` is not a number of milliseconds"
                ))
            })?,
            Err(_) => 0,
        };
        let throttled = Arc::new(ThrottledStorage::new(
            storage,
            Duration::from_millis(latency_ms),
        ));
        let cold = std::env::var("HYDRANT_BENCH_COLD").is_ok_and(|value| value == "1");
        let instruments = BenchInstruments {
            storage: throttled.clone(),
            cold: cold.then(|| settings.clone()),
        };
        Ok((instruments, throttled))
    }

    /// Storage reads so far (GET and HEAD).
    pub fn reads(&self) -> u64 {
        self.storage.num_reads()
    }

    /// The settings to build a service with new caches from, when every invocation is to be
    /// cold, and the storage it reads.
    pub fn cold_start(&self) -> Option<(&SearcherSettings, SharedStorage)> {
        let settings = self.cold.as_ref()?;
        Some((settings, self.storage.clone()))
    }

    /// The invocation's line.
    pub fn line(&self, leaf: bool, millis: u64, gets: u64) -> String {
        let figures = serde_json::json!({"leaf": leaf, "millis": millis, "gets": gets});
        format!("{LINE_PREFIX}{figures}")
    }
}
