//! Test doubles, behind the `testing` feature: production binaries never build them.
//!
//! - [`MemoryStorage`]: the contract in memory, for unit tests;
//! - [`FaultyStorage`]: failures on a deterministic schedule, in the three ways S3 fails a
//!   write, for the exactly-once tests;
//! - [`ThrottledStorage`]: latency per request and request counts as S3 bills them, for
//!   benchmarks on local disk;
//! - [`moto`]: a real S3 API on loopback for every crate's tests, never a mock.

mod faulty;
mod memory;
pub mod moto;
mod throttled;

pub use self::faulty::{Fault, FaultRule, FaultyStorage, Operation};
pub use self::memory::MemoryStorage;
pub use self::moto::{
    moto_bucket, moto_endpoint, moto_s3_config, moto_storage, s3_config_for_endpoint,
    spawn_moto_server,
};
pub use self::throttled::{RequestKind, RequestRecord, ThrottledStorage};
