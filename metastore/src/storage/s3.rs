//! S3 storage through aws-sdk-s3, also for S3-compatible servers (moto, MinIO).
//!
//! Conditional puts map onto S3's own: `Create` sends `If-None-Match: *`, `Update` sends
//! `If-Match: <etag>`. S3 answers 412 when the condition fails and may answer 409 when two
//! conditional writes race; both become [`Error::PreconditionFailed`], which a
//! compare-and-swap loop answers by reading again.
//!
//! Files above [`S3Config::multipart_threshold`] are uploaded in parts, a few at a time, with the
//! condition on the final `CompleteMultipartUpload`.

use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::{
    GetResult, GetStreamResult, ObjectMeta, ObjectVersion, PutMode, PutPayload, PutResult, Storage,
    check_range, validate_key,
};
use crate::error::{Error, Result};

/// Uploads at or above this size use multipart upload.
const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Size of each uploaded part (S3 requires at least 5 MiB but for the last).
const DEFAULT_MULTIPART_PART_SIZE: u64 = 16 << 20;
/// Parts uploaded at the same time.
const MULTIPART_CONCURRENCY: usize = 4;

/// How to reach S3. `Default` reads everything from the standard AWS environment.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// Endpoint override for S3-compatible servers; `AWS_ENDPOINT_URL(_S3)` also works.
    pub endpoint: Option<String>,
    /// Region override; otherwise the AWS environment's region.
    pub region: Option<String>,
    /// Path-style addressing (`http://host/bucket/key`). `None`: on when an endpoint override
    /// is set, since S3-compatible servers rarely serve virtual-hosted buckets.
    pub force_path_style: Option<bool>,
    /// Static credentials (access key, secret key), for tests against local servers.
    pub static_credentials: Option<(String, String)>,
    /// Files at or above this size are uploaded in parts.
    pub multipart_threshold: u64,
    /// Part size of multipart uploads.
    pub multipart_part_size: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: None,
            force_path_style: None,
            static_credentials: None,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            multipart_part_size: DEFAULT_MULTIPART_PART_SIZE,
        }
    }
}

impl S3Config {
    /// A config for an S3-compatible server on `endpoint` with static test credentials.
    pub fn for_endpoint(endpoint: impl Into<String>) -> Self {
        S3Config {
            endpoint: Some(endpoint.into()),
            region: Some("us-east-1".to_string()),
            static_credentials: Some(("testing".to_string(), "testing".to_string())),
            ..S3Config::default()
        }
    }

    /// Builds an S3 client: the AWS environment, then the overrides of this config.
    pub async fn build_client(&self) -> Client {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some((access_key, secret_key)) = &self.static_credentials {
            loader = loader.credentials_provider(Credentials::new(
                access_key, secret_key, None, None, "static",
            ));
        }
        let sdk_config = loader.load().await;
        let force_path_style = self
            .force_path_style
            .unwrap_or(sdk_config.endpoint_url().is_some());
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(force_path_style)
            .build();
        Client::from_conf(s3_config)
    }
}

/// Storage in an S3 bucket, under an optional key prefix.
#[derive(Clone, Debug)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    multipart_threshold: u64,
    multipart_part_size: u64,
}

impl S3Storage {
    /// Storage on `s3://{bucket}/{prefix}` through `client`.
    pub fn new(client: Client, config: &S3Config, bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        S3Storage {
            client,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            multipart_threshold: config.multipart_threshold,
            multipart_part_size: config.multipart_part_size.max(5 << 20),
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn key(&self, path: &str) -> Result<String> {
        validate_key(path)?;
        Ok(format!("{}{path}", self.prefix))
    }

    async fn put_single(
        &self,
        key: &str,
        path: &str,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<PutResult> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body);
        request = match &mode {
            PutMode::Overwrite => request,
            PutMode::Create => request.if_none_match("*"),
            PutMode::Update(version) => request.if_match(&version.0),
        };
        let output = request
            .send()
            .await
            .map_err(|error| self.classify(path, &mode, error))?;
        Ok(PutResult {
            version: ObjectVersion(output.e_tag().unwrap_or_default().to_string()),
        })
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &str,
        file: &Path,
        size: u64,
        mode: PutMode,
    ) -> Result<PutResult> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| self.classify(path, &mode, error))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let outcome = self
            .upload_parts_and_complete(key, path, file, size, &mode, &upload_id)
            .await;
        if outcome.is_err() {
            // Best effort: an abandoned upload only costs storage until the bucket's lifecycle
            // rule for incomplete uploads removes it.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        outcome
    }

    async fn upload_parts_and_complete(
        &self,
        key: &str,
        path: &str,
        file: &Path,
        size: u64,
        mode: &PutMode,
        upload_id: &str,
    ) -> Result<PutResult> {
        let part_size = self.multipart_part_size;
        let num_parts = size.div_ceil(part_size);
        let parts: Vec<CompletedPart> = futures::stream::iter(0..num_parts)
            .map(|part_index| async move {
                let offset = part_index * part_size;
                let length = part_size.min(size - offset);
                let body = ByteStream::read_from()
                    .path(file)
                    .offset(offset)
                    .length(Length::Exact(length))
                    .build()
                    .await
                    .map_err(|error| Error::storage(file.display(), "cannot read part", error))?;
                let part_number = part_index as i32 + 1;
                let output = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| self.classify(path, &PutMode::Overwrite, error))?;
                Ok::<_, Error>(
                    CompletedPart::builder()
                        .part_number(part_number)
                        .set_e_tag(output.e_tag().map(str::to_string))
                        .build(),
                )
            })
            .buffered(MULTIPART_CONCURRENCY)
            .try_collect()
            .await?;
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        request = match mode {
            PutMode::Overwrite => request,
            PutMode::Create => request.if_none_match("*"),
            PutMode::Update(version) => request.if_match(&version.0),
        };
        match request.send().await {
            Ok(output) => Ok(PutResult {
                version: ObjectVersion(output.e_tag().unwrap_or_default().to_string()),
            }),
            // Some S3-compatible servers (moto among them) answer a successful completion with
            // a body the SDK cannot parse. The upload did complete if the object now has
            // exactly our size; anything else stays an error.
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|response| response.status().is_success()) =>
            {
                let meta = self.head(path).await?;
                if meta.size == size {
                    Ok(PutResult {
                        version: meta.version,
                    })
                } else {
                    Err(Error::Storage {
                        path: self.describe(path),
                        message: "multipart completion answered with an unreadable body and \
                                  the object does not have the uploaded size"
                            .to_string(),
                        source: None,
                    })
                }
            }
            Err(error) => Err(self.classify(path, mode, error)),
        }
    }

    /// Turns an SDK error into ours, keeping 404 and 412/409 distinguishable.
    fn classify<E>(
        &self,
        path: &str,
        mode: &PutMode,
        error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = error
            .raw_response()
            .map(|response| response.status().as_u16());
        match status {
            Some(404) => Error::NotFound {
                path: path.to_string(),
            },
            Some(412) => Error::PreconditionFailed {
                path: path.to_string(),
                reason: match mode {
                    PutMode::Create => "object already exists".to_string(),
                    _ => "object changed since it was read".to_string(),
                },
            },
            Some(409) if *mode != PutMode::Overwrite => Error::PreconditionFailed {
                path: path.to_string(),
                reason: "a concurrent conditional write won".to_string(),
            },
            _ => {
                let message = match (error.code(), error.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_string(),
                    _ => DisplayErrorContext(&error).to_string(),
                };
                Error::storage(self.describe(path), message, error)
            }
        }
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn get(&self, path: &str) -> Result<GetResult> {
        let key = self.key(path)?;
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|error| self.classify(path, &PutMode::Overwrite, error))?;
        let version = ObjectVersion(output.e_tag().unwrap_or_default().to_string());
        let last_modified = output
            .last_modified()
            .and_then(|date_time| SystemTime::try_from(*date_time).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| Error::storage(self.describe(path), "cannot read body", error))?
            .into_bytes();
        Ok(GetResult {
            meta: ObjectMeta {
                path: path.to_string(),
                size: bytes.len() as u64,
                version,
                last_modified,
            },
            bytes,
        })
    }

    async fn get_if_modified(
        &self,
        path: &str,
        version: &ObjectVersion,
    ) -> Result<Option<GetResult>> {
        let key = self.key(path)?;
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_none_match(&version.0)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|response| response.status().as_u16() == 304) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(self.classify(path, &PutMode::Overwrite, error)),
        };
        let version = ObjectVersion(output.e_tag().unwrap_or_default().to_string());
        let last_modified = output
            .last_modified()
            .and_then(|date_time| SystemTime::try_from(*date_time).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| Error::storage(self.describe(path), "cannot read body", error))?
            .into_bytes();
        Ok(Some(GetResult {
            meta: ObjectMeta {
                path: path.to_string(),
                size: bytes.len() as u64,
                version,
                last_modified,
            },
            bytes,
        }))
    }

    async fn get_stream(&self, path: &str) -> Result<GetStreamResult> {
        let key = self.key(path)?;
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|error| self.classify(path, &PutMode::Overwrite, error))?;
        let meta = ObjectMeta {
            path: path.to_string(),
            size: output.content_length().unwrap_or(0).max(0) as u64,
            version: ObjectVersion(output.e_tag().unwrap_or_default().to_string()),
            last_modified: output
                .last_modified()
                .and_then(|date_time| SystemTime::try_from(*date_time).ok())
                .unwrap_or(SystemTime::UNIX_EPOCH),
        };
        let location = self.describe(path);
        let chunks = futures::stream::try_unfold(
            (output.body, location),
            |(mut body, location)| async move {
                match body.next().await {
                    None => Ok(None),
                    Some(Ok(chunk)) => Ok(Some((chunk, (body, location)))),
                    Some(Err(error)) => Err(Error::storage(&location, "cannot read body", error)),
                }
            },
        );
        Ok(GetStreamResult {
            meta,
            chunks: Box::pin(chunks),
        })
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let key = self.key(path)?;
        if range.start > range.end {
            return Err(Error::Storage {
                path: self.describe(path),
                message: format!("invalid range {}..{}", range.start, range.end),
                source: None,
            });
        }
        if range.is_empty() {
            // HTTP cannot express an empty range; an empty read only needs the object to exist
            // and be long enough.
            let meta = self.head(path).await?;
            check_range(path, &range, meta.size)?;
            return Ok(Bytes::new());
        }
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|error| {
                match error
                    .raw_response()
                    .map(|response| response.status().as_u16())
                {
                    Some(416) => Error::Storage {
                        path: self.describe(path),
                        message: format!(
                            "range {}..{} is outside the object",
                            range.start, range.end
                        ),
                        source: None,
                    },
                    _ => self.classify(path, &PutMode::Overwrite, error),
                }
            })?;
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| Error::storage(self.describe(path), "cannot read body", error))?
            .into_bytes();
        // S3 silently shortens a range that runs past the end; the contract says error.
        if bytes.len() as u64 != range.end - range.start {
            return Err(Error::Storage {
                path: self.describe(path),
                message: format!(
                    "range {}..{} is outside the object (got {} bytes)",
                    range.start,
                    range.end,
                    bytes.len()
                ),
                source: None,
            });
        }
        Ok(bytes)
    }

    async fn put(&self, path: &str, payload: PutPayload, mode: PutMode) -> Result<PutResult> {
        let key = self.key(path)?;
        match payload {
            PutPayload::Bytes(bytes) => {
                self.put_single(&key, path, ByteStream::from(bytes), mode)
                    .await
            }
            PutPayload::File(file) => {
                let size = tokio::fs::metadata(&file)
                    .await
                    .map_err(|error| Error::from_io(file.display(), error))?
                    .len();
                if size >= self.multipart_threshold {
                    self.put_multipart(&key, path, &file, size, mode).await
                } else {
                    let body = ByteStream::from_path(&file)
                        .await
                        .map_err(|error| Error::storage(file.display(), "cannot read", error))?;
                    self.put_single(&key, path, body, mode).await
                }
            }
        }
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let key = self.key(path)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|error| self.classify(path, &PutMode::Overwrite, error))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full_prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| self.classify(prefix, &PutMode::Overwrite, error))?;
            for object in page.contents() {
                let Some(path) = object.key().and_then(|key| key.strip_prefix(&self.prefix)) else {
                    continue;
                };
                objects.push(ObjectMeta {
                    path: path.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    version: ObjectVersion(object.e_tag().unwrap_or_default().to_string()),
                    last_modified: object
                        .last_modified()
                        .and_then(|date_time| SystemTime::try_from(*date_time).ok())
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        objects.sort_by(|left, right| left.path.cmp(&right.path));
        Ok(objects)
    }

    async fn head(&self, path: &str) -> Result<ObjectMeta> {
        let key = self.key(path)?;
        let output = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|error| self.classify(path, &PutMode::Overwrite, error))?;
        Ok(ObjectMeta {
            path: path.to_string(),
            size: output.content_length().unwrap_or(0).max(0) as u64,
            version: ObjectVersion(output.e_tag().unwrap_or_default().to_string()),
            last_modified: output
                .last_modified()
                .and_then(|date_time| SystemTime::try_from(*date_time).ok())
                .unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    fn describe(&self, path: &str) -> String {
        format!("s3://{}/{}{path}", self.bucket, self.prefix)
    }
}
