//! Storage URIs (`s3://bucket/prefix`, `file:///path`, a plain path) and the resolver that turns
//! them into storage handles, sharing one S3 client.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::error::{Result, StorageError};
use super::{LocalStorage, S3Config, S3Storage, SharedStorage};

/// Where a storage lives.
///
/// ```
/// use hydrant_metastore::storage::StorageUri;
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
        if uri.is_empty() || uri.contains("://") {
            return Err(StorageError::InvalidConfig(format!(
                "`{uri}` is not a storage URI: use s3://bucket/prefix, file:///path or a path"
            )));
        }
        Ok(StorageUri::Local(PathBuf::from(uri)))
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
