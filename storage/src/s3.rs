//! S3 storage through aws-sdk-s3, also for S3-compatible servers (moto, MinIO).
//!
//! Conditional puts map onto S3's own: `Create` sends `If-None-Match: *`, `Update` sends
//! `If-Match: <etag>`. S3 answers 412 when the condition fails and may answer 409 when two
//! conditional writes race; both become [`StorageError::PreconditionFailed`], which a
//! compare-and-swap loop answers by reading again.
//!
//! Files above [`S3Config::multipart_threshold`] are uploaded in parts, a few at a time, with the
//! condition on the final `CompleteMultipartUpload`.
//!
//! Every request is bounded in time ([`S3Timeouts`]): connecting, waiting for the first byte of
//! an answer (longer for a request carrying a body, in proportion to its size), all retries
//! together, and a download that stops delivering bytes. An endpoint that accepts connections
//! and never answers fails in seconds with an error naming it, instead of holding a Lambda to
//! its own timeout.

use std::ops::Range;
use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, StalledStreamProtectionConfig, timeout::TimeoutConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::aws_env::{SdkSettings, load_sdk_config};
use crate::error::{Result, StorageError};
use crate::settings::Settings;
use crate::{
    GetResult, GetStreamResult, ObjectMeta, ObjectVersion, PutMode, PutPayload, PutResult, Storage,
    check_range, validate_key,
};

/// Uploads at or above this size use multipart upload.
const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Size of each uploaded part (S3 requires at least 5 MiB but for the last).
const DEFAULT_MULTIPART_PART_SIZE: u64 = 16 << 20;
/// Parts uploaded at the same time.
const MULTIPART_CONCURRENCY: usize = 4;

/// How long S3 requests may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Timeouts {
    /// Establishing a connection (TCP and TLS).
    pub connect: Duration,
    /// From sending a request without a large body to the first byte of its answer.
    pub first_byte: Duration,
    /// Every attempt of one request, retries included.
    pub operation: Duration,
    /// A download (or upload) that moves no byte for this long fails, and is resumed.
    pub stalled_stream: Duration,
    /// The slowest upload rate assumed (bytes per second): a request carrying a body gets
    /// `first_byte` plus the time to send the body at this rate.
    pub min_upload_bytes_per_sec: u64,
}

impl Default for S3Timeouts {
    /// Generous for S3 in the same region (first bytes in tens of milliseconds, connections in
    /// a few), short enough that a silent endpoint fails in well under a minute.
    fn default() -> Self {
        S3Timeouts {
            connect: Duration::from_secs(3),
            first_byte: Duration::from_secs(5),
            operation: Duration::from_secs(20),
            stalled_stream: Duration::from_secs(10),
            min_upload_bytes_per_sec: 4_000_000,
        }
    }
}

impl S3Timeouts {
    /// The defaults, with `HYDRANT_S3_CONNECT_TIMEOUT`, `HYDRANT_S3_FIRST_BYTE_TIMEOUT`,
    /// `HYDRANT_S3_OPERATION_TIMEOUT` and `HYDRANT_S3_STALL_TIMEOUT` (durations such as `5s`)
    /// read through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let settings = Settings::new(lookup);
        let mut timeouts = S3Timeouts::default();
        for (name, field) in [
            ("HYDRANT_S3_CONNECT_TIMEOUT", &mut timeouts.connect),
            ("HYDRANT_S3_FIRST_BYTE_TIMEOUT", &mut timeouts.first_byte),
            ("HYDRANT_S3_OPERATION_TIMEOUT", &mut timeouts.operation),
            ("HYDRANT_S3_STALL_TIMEOUT", &mut timeouts.stalled_stream),
        ] {
            let duration = settings
                .duration(name, *field)
                .map_err(StorageError::InvalidConfig)?;
            if duration.is_zero() || duration > Duration::from_secs(3_600) {
                return Err(StorageError::InvalidConfig(format!(
                    "{name} must be between 1s and 1 hour, got {}s",
                    duration.as_secs_f64()
                )));
            }
            *field = duration;
        }
        Ok(timeouts)
    }

    /// The timeouts of a request that sends `body_bytes`.
    fn for_body(&self, body_bytes: u64) -> TimeoutConfig {
        let sending = Duration::from_secs(body_bytes / self.min_upload_bytes_per_sec.max(1) + 1);
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.first_byte + sending)
            .operation_attempt_timeout(self.first_byte + sending)
            .operation_timeout(self.operation + sending * 3)
            .build()
    }
}

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
    pub timeouts: S3Timeouts,
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
            timeouts: S3Timeouts::default(),
        }
    }
}

impl S3Config {
    /// The AWS environment, with Hydrant's own settings from the process environment (the
    /// `HYDRANT_S3_*` timeouts).
    pub fn from_env() -> Result<Self> {
        Ok(S3Config {
            timeouts: S3Timeouts::from_lookup(|name| std::env::var(name).ok())?,
            ..S3Config::default()
        })
    }

    /// The endpoint override in effect: this config's, else the environment's
    /// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), as the SDK resolves it. For messages.
    fn endpoint_override(&self) -> Option<String> {
        self.endpoint.clone().or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|url| !url.is_empty()))
        })
    }

    /// Builds an S3 client: the AWS environment, then the overrides of this config.
    pub async fn build_client(&self) -> Client {
        let sdk_config = load_sdk_config(SdkSettings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            credentials: self
                .static_credentials
                .as_ref()
                .map(|(access_key, secret_key)| {
                    Credentials::new(access_key, secret_key, None, None, "static")
                }),
            ..SdkSettings::for_service("S3")
        })
        .await;
        let force_path_style = self
            .force_path_style
            .unwrap_or(sdk_config.endpoint_url().is_some());
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(force_path_style)
            .timeout_config(self.timeouts.for_body(0))
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(self.timeouts.stalled_stream)
                    .build(),
            )
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
    timeouts: S3Timeouts,
    /// The endpoint, for messages: an override's URL, or the region.
    endpoint: String,
}

impl S3Storage {
    /// Storage on `s3://{bucket}/{prefix}` through `client`.
    pub fn new(client: Client, config: &S3Config, bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        S3Storage {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            multipart_threshold: config.multipart_threshold,
            multipart_part_size: config.multipart_part_size.max(5 << 20),
            timeouts: config.timeouts.clone(),
            endpoint: match config.endpoint_override() {
                Some(endpoint) => endpoint,
                None => match client.config().region() {
                    Some(region) => format!("S3 in {region}"),
                    None => "S3 (no region configured)".to_string(),
                },
            },
            client,
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

    /// Request settings for a request that sends `body_bytes`.
    fn body_config(&self, body_bytes: u64) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::default().timeout_config(self.timeouts.for_body(body_bytes))
    }

    async fn put_single(
        &self,
        key: &str,
        path: &str,
        body: ByteStream,
        body_bytes: u64,
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
            .customize()
            .config_override(self.body_config(body_bytes))
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

    /// Uploads a file's parts, a few at a time; returns them in order for the completion.
    async fn upload_parts(
        &self,
        key: &str,
        path: &str,
        file: &Path,
        size: u64,
        upload_id: &str,
    ) -> Result<Vec<CompletedPart>> {
        let part_size = self.multipart_part_size;
        let num_parts = size.div_ceil(part_size);
        futures::stream::iter(0..num_parts)
            .map(|part_index| async move {
                let offset = part_index * part_size;
                let length = part_size.min(size - offset);
                let body = ByteStream::read_from()
                    .path(file)
                    .offset(offset)
                    .length(Length::Exact(length))
                    .build()
                    .await
                    .map_err(|error| {
                        StorageError::backend(file.display(), "cannot read part", error)
                    })?;
                let part_number = part_index as i32 + 1;
                let output = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .body(body)
                    .customize()
                    .config_override(self.body_config(length))
                    .send()
                    .await
                    .map_err(|error| self.classify(path, &PutMode::Overwrite, error))?;
                Ok::<_, StorageError>(
                    CompletedPart::builder()
                        .part_number(part_number)
                        .set_e_tag(output.e_tag().map(str::to_string))
                        .build(),
                )
            })
            .buffered(MULTIPART_CONCURRENCY)
            .try_collect()
            .await
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
        let parts = self.upload_parts(key, path, file, size, upload_id).await?;
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
                    Err(StorageError::Backend {
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
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = error
            .raw_response()
            .map(|response| response.status().as_u16());
        match status {
            Some(404) => StorageError::NotFound {
                path: path.to_string(),
            },
            Some(412) => StorageError::PreconditionFailed {
                path: path.to_string(),
                reason: match mode {
                    PutMode::Create => "object already exists".to_string(),
                    _ => "object changed since it was read".to_string(),
                },
            },
            Some(409) if *mode != PutMode::Overwrite => StorageError::PreconditionFailed {
                path: path.to_string(),
                reason: "a concurrent conditional write won".to_string(),
            },
            _ => {
                let message = self.explain(&error);
                StorageError::backend(self.describe(path), message, error)
            }
        }
    }
}

impl S3Storage {
    /// What went wrong, for a person: the service's own code and message when it answered;
    /// otherwise whether the endpoint could not be reached, did not answer in time, or there
    /// were no credentials to sign with, naming the endpoint.
    fn explain<E, R>(&self, error: &SdkError<E, R>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        if let (Some(code), message) = (error.code(), error.message()) {
            return match message {
                Some(message) => format!("{code}: {message}"),
                None => code.to_string(),
            };
        }
        let details = error_chain(error);
        let endpoint = &self.endpoint;
        match error {
            SdkError::TimeoutError(_) => format!(
                "no answer from {endpoint} within {}s, retries included",
                self.timeouts.operation.as_secs()
            ),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => format!(
                "{endpoint} did not answer in time (connect timeout {}s, first byte {}s)",
                self.timeouts.connect.as_secs(),
                self.timeouts.first_byte.as_secs()
            ),
            _ if is_missing_credentials(&details) => format!(
                "no AWS credentials to sign requests to {endpoint}: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with a role (looked for: \
                 environment, profile, web identity token, container and instance credentials)"
            ),
            SdkError::DispatchFailure(failure) if failure.is_io() => {
                format!("cannot reach {endpoint}: {details}")
            }
            _ => format!("request to {endpoint} failed: {details}"),
        }
    }
}

/// The messages of an error and its sources, joined: what happened, without the SDK's debug
/// dump of its internals.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !messages.iter().any(|seen| seen.contains(&message)) {
            messages.push(message);
        }
        source = cause.source();
    }
    messages.join(": ")
}

/// Whether the SDK failed for want of credentials (it reports that as a dispatch or
/// construction failure whose text says so, with no variant of its own).
fn is_missing_credentials(details: &str) -> bool {
    let details = details.to_ascii_lowercase();
    details.contains("credentials")
        && (details.contains("no credentials")
            || details.contains("failed to load")
            || details.contains("not loaded")
            || details.contains("identity"))
}

/// What a GET's response says of the object, `size` bytes long.
fn object_meta(path: &str, output: &GetObjectOutput, size: u64) -> ObjectMeta {
    ObjectMeta {
        path: path.to_string(),
        size,
        version: ObjectVersion(output.e_tag().unwrap_or_default().to_string()),
        last_modified: output
            .last_modified()
            .and_then(|date_time| SystemTime::try_from(*date_time).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

impl S3Storage {
    /// A GET of the whole object, its body not read yet.
    async fn get_object(&self, path: &str) -> Result<GetObjectOutput> {
        let key = self.key(path)?;
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|error| self.classify(path, &PutMode::Overwrite, error))
    }

    /// A GET's whole body, with what the response says of the object.
    async fn read_whole(&self, path: &str, output: GetObjectOutput) -> Result<GetResult> {
        let mut meta = object_meta(path, &output, 0);
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| StorageError::backend(self.describe(path), "cannot read body", error))?
            .into_bytes();
        meta.size = bytes.len() as u64;
        Ok(GetResult { meta, bytes })
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn get(&self, path: &str) -> Result<GetResult> {
        let output = self.get_object(path).await?;
        self.read_whole(path, output).await
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
        self.read_whole(path, output).await.map(Some)
    }

    async fn get_stream(&self, path: &str) -> Result<GetStreamResult> {
        let output = self.get_object(path).await?;
        let size = output.content_length().unwrap_or(0).max(0) as u64;
        let meta = object_meta(path, &output, size);
        let location = self.describe(path);
        let chunks = futures::stream::try_unfold(
            (output.body, location),
            |(mut body, location)| async move {
                match body.next().await {
                    None => Ok(None),
                    Some(Ok(chunk)) => Ok(Some((chunk, (body, location)))),
                    Some(Err(error)) => {
                        Err(StorageError::backend(&location, "cannot read body", error))
                    }
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
            return Err(StorageError::Backend {
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
                    Some(416) => StorageError::Backend {
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
            .map_err(|error| StorageError::backend(self.describe(path), "cannot read body", error))?
            .into_bytes();
        // S3 silently shortens a range that runs past the end; the contract says error.
        if bytes.len() as u64 != range.end - range.start {
            return Err(StorageError::Backend {
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
                let size = bytes.len() as u64;
                self.put_single(&key, path, ByteStream::from(bytes), size, mode)
                    .await
            }
            PutPayload::File(file) => {
                let size = tokio::fs::metadata(&file)
                    .await
                    .map_err(|error| StorageError::from_io(file.display(), error))?
                    .len();
                if size >= self.multipart_threshold {
                    self.put_multipart(&key, path, &file, size, mode).await
                } else {
                    let body = ByteStream::from_path(&file).await.map_err(|error| {
                        StorageError::backend(file.display(), "cannot read", error)
                    })?;
                    self.put_single(&key, path, body, size, mode).await
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
