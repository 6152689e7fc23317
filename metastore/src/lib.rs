//! Hydrant's persistent state and how to read it: storage backends, index configuration,
//! split metadata, the metastore, and the split bundle format.

pub mod error;
pub mod storage;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
