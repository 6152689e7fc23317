//! Time, injectable: grace periods, retention and staged-split expiry are decided against a
//! [`Clock`], so tests can move time forward instead of sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in seconds since the Unix epoch.
pub trait Clock: Debug + Send + Sync + 'static {
    fn now_secs(&self) -> i64;
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
///
/// ```
/// use hydrant_metastore::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// clock.advance_secs(60);
/// assert_eq!(clock.now_secs(), 1_060);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now_secs: AtomicI64,
}

impl ManualClock {
    pub fn new(now_secs: i64) -> Self {
        ManualClock {
            now_secs: AtomicI64::new(now_secs),
        }
    }

    pub fn advance_secs(&self, secs: i64) {
        self.now_secs.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn set_secs(&self, now_secs: i64) {
        self.now_secs.store(now_secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> i64 {
        self.now_secs.load(Ordering::SeqCst)
    }
}
