//! Storage URIs (`s3://bucket/prefix`, `file:///path`, a plain path) and the resolver that turns
//! them into storage handles, sharing one S3 client.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::error::{Result, StorageError};
use crate::{LocalStorage, S3Config, S3Storage, SharedStorage};

/// Where a storage lives.
///
/// ```
/// use hydrant_storage::StorageUri;
///
/// let uri: StorageUri = "s3://my-bucket/indexes".parse().unwrap();
/// assert_eq!(uri, StorageUri::S3 { bucket: "my-bucket".into(), prefix: "indexes".into() });
/// let uri: StorageUri = "file:///var/lib/hydrant".parse().unwrap();
/// assert_eq!(uri, StorageUri::Local("/var/lib/hydrant".into()));
/// let uri: StorageUri = "./data".parse().unwrap();
/// assert_eq!(uri, StorageUri::Local("./data".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageUri {
    /// An S3 bucket and a key prefix (possibly empty, without slashes at the ends).
    S3 { bucket: String, prefix: String },
    /// A directory on local disk.
    Local(PathBuf),
}

impl StorageUri {
    /// The URI of a sub-directory (`s3://b/p` + `x` = `s3://b/p/x`).
    pub fn join(&self, child: &str) -> StorageUri {
        let child = child.trim_matches('/');
        match self {
            StorageUri::S3 { bucket, prefix } if prefix.is_empty() => StorageUri::S3 {
                bucket: bucket.clone(),
                prefix: child.to_string(),
            },
            StorageUri::S3 { bucket, prefix } => StorageUri::S3 {
                bucket: bucket.clone(),
                prefix: format!("{prefix}/{child}"),
            },
            StorageUri::Local(path) => StorageUri::Local(path.join(child)),
        }
    }
}

impl FromStr for StorageUri {
    type Err = StorageError;

    fn from_str(uri: &str) -> Result<Self> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::InvalidConfig(format!(
                    "`{uri}` names no bucket"
                )));
            }
            if !is_valid_bucket_name(bucket) {
                return Err(StorageError::InvalidConfig(format!(
                    "`{uri}`: `{bucket}` is not an S3 bucket name (3 to 63 lowercase letters, \
                     digits, `.` or `-`, starting and ending with a letter or digit)"
                )));
            }
            return Ok(StorageUri::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = uri.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(StorageError::InvalidConfig(format!(
                    "`{uri}`: a file URI needs an absolute path (file:///...)"
                )));
            }
            return Ok(StorageUri::Local(PathBuf::from(path)));
        }
        // `s3:/bucket` or `s3:bucket` is a mistyped URI, not a directory named `s3:`.
        if uri.is_empty() || uri.contains("://") || starts_with_scheme(uri) {
            return Err(StorageError::InvalidConfig(format!(
                "`{uri}` is not a storage URI: use s3://bucket/prefix, file:///path or a path"
            )));
        }
        Ok(StorageUri::Local(PathBuf::from(uri)))
    }
}

/// S3's rules for bucket names (the general purpose ones).
fn is_valid_bucket_name(bucket: &str) -> bool {
    let bytes = bucket.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|&byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b".-".contains(&byte)
        })
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !bucket.contains("..")
}

/// `scheme:...` as URIs begin (a letter, then letters, digits, `+`, `-` or `.`), before any
/// `/`: what a path never looks like in practice.
fn starts_with_scheme(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_uris_are_refused() {
        for uri in [
            "s3:/bad",
            "s3:bad",
            "S3://bucket",
            "s3://Bucket",
            "s3://ab",
            "s3://-bucket",
            "s3://my_bucket",
            "gs://bucket",
            "file://relative",
            "",
        ] {
            assert!(uri.parse::<StorageUri>().is_err(), "{uri} is accepted");
        }
        for uri in [
            "s3://my-bucket.logs/a/b",
            "./s3:/x",
            "data/index",
            "/tmp/a:b",
        ] {
            assert!(uri.parse::<StorageUri>().is_ok(), "{uri} is refused");
        }
    }
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUri::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StorageUri::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            StorageUri::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Opens storages from URIs. S3 storages share one client, built on first use so that a
/// process that only touches local disk never loads AWS configuration.
#[derive(Clone, Debug, Default)]
pub struct StorageResolver {
    s3_config: S3Config,
    s3_client: Arc<OnceCell<aws_sdk_s3::Client>>,
}

impl StorageResolver {
    /// A resolver whose S3 client is built from `s3_config`.
    pub fn new(s3_config: S3Config) -> Self {
        StorageResolver {
            s3_config,
            s3_client: Arc::default(),
        }
    }

    /// A resolver whose S3 client follows the AWS environment and Hydrant's `HYDRANT_S3_*`
    /// settings ([`S3Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        Ok(StorageResolver::new(S3Config::from_env()?))
    }

    /// Opens the storage at `uri`. Local directories are created if missing.
    pub async fn resolve(&self, uri: &StorageUri) -> Result<SharedStorage> {
        match uri {
            StorageUri::Local(path) => Ok(Arc::new(LocalStorage::new(path)?)),
            StorageUri::S3 { bucket, prefix } => {
                let client = self
                    .s3_client
                    .get_or_init(|| self.s3_config.build_client())
                    .await
                    .clone();
                Ok(Arc::new(S3Storage::new(
                    client,
                    &self.s3_config,
                    bucket,
                    prefix,
                )))
            }
        }
    }
}

/// Opens the storage at `uri` with S3 settings from the environment.
pub async fn storage_from_uri(uri: &str) -> Result<SharedStorage> {
    StorageResolver::default().resolve(&uri.parse()?).await
}
