//! Signed tokens: state a client carries from one request to the next (a scroll's query and
//! position) and must hand back unchanged.
//!
//! Consecutive requests land on different Lambda invocations and containers, so the state
//! cannot live in a searcher's memory; it travels in the token, HMAC-SHA256-signed with a key
//! every searcher of the storage shares. The key is a random object in the index storage
//! ([`SIGNING_KEY`]: outside `metastore/` and `indexes/`, so neither index listing nor
//! garbage collection ever sees it), created by the first searcher that needs it (a
//! conditional write, so two searchers racing agree on one key) and read once per process.
//!
//! ```
//! # use hydrant_search::signing::SigningKey;
//! let key = SigningKey::from_bytes([7; 32]);
//! let token = key.seal(b"position 42");
//! assert_eq!(key.open(&token).as_deref(), Some(&b"position 42"[..]));
//! let tampered = token.replacen('p', "q", 1);
//! assert_eq!(key.open(&tampered), None);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use hydrant_metastore::paths::SIGNING_KEY;
use hydrant_storage::{PutMode, Storage, StorageError};
use sha2::Sha256;

use crate::error::{Result, SearchError};

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 256 << 10;

const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 32;

/// The key tokens are signed with.
#[derive(Clone)]
pub struct SigningKey([u8; KEY_BYTES]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        SigningKey(bytes)
    }

    /// The storage's key, created if it has none yet.
    pub async fn load_or_create(storage: &dyn Storage) -> Result<Self> {
        let mut last_error = None;
        for _ in 0..3 {
            match storage.get(SIGNING_KEY).await {
                Ok(found) => return Self::parse(&found.bytes),
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(storage_error(error)),
            }
            let fresh = random_key();
            match storage
                .put(SIGNING_KEY, fresh.to_vec().into(), PutMode::Create)
                .await
            {
                Ok(_) => return Ok(SigningKey(fresh)),
                // Another searcher created it first, or ours was written and its answer lost
                // (a retry then meets our own key): the next read tells which key is the one.
                Err(error) => last_error = Some(error),
            }
        }
        // Every attempt that did not return failed its put.
        Err(storage_error(last_error.expect("three failed puts")))
    }

    fn parse(bytes: &[u8]) -> Result<Self> {
        let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| {
            SearchError::Config(format!(
                "the signing key `{SIGNING_KEY}` is {} bytes, not {KEY_BYTES}: delete it \
                 and a new one is made (open scrolls then end)",
                bytes.len()
            ))
        })?;
        Ok(SigningKey(key))
    }

    /// `payload` as a URL-safe token: the payload, then its signature.
    pub fn seal(&self, payload: &[u8]) -> String {
        let tag = self.mac(payload).finalize().into_bytes();
        format!("{}.{}", BASE64.encode(payload), BASE64.encode(tag))
    }

    /// The payload of a token this key sealed; `None` for anything else.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let (payload, tag) = token.split_once('.')?;
        let payload = BASE64.decode(payload).ok()?;
        let tag = BASE64.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        self.mac(&payload).verify_slice(&tag).ok()?;
        Some(payload)
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(payload);
        mac
    }
}

/// 32 bytes from the operating system's generator, through two v4 UUIDs (244 random bits):
/// the crate that draws them is already in the build.
fn random_key() -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

fn storage_error(error: StorageError) -> SearchError {
    SearchError::StorageUnavailable(format!("signing key: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hydrant_storage::testing::MemoryStorage;

    #[tokio::test]
    async fn searchers_of_one_storage_share_one_key() {
        let storage = MemoryStorage::default();
        let first = SigningKey::load_or_create(&storage).await.unwrap();
        let second = SigningKey::load_or_create(&storage).await.unwrap();
        let token = first.seal(b"state");
        assert_eq!(second.open(&token).unwrap(), b"state");
        let other = SigningKey::load_or_create(&MemoryStorage::default())
            .await
            .unwrap();
        assert_eq!(other.open(&token), None);
    }

    #[tokio::test]
    async fn a_key_written_with_its_answer_lost_is_the_key() {
        use hydrant_storage::testing::{Fault, FaultRule, FaultyStorage, Operation};
        for fault in [Fault::ResponseLost, Fault::Retried] {
            let faulty = FaultyStorage::new(std::sync::Arc::new(MemoryStorage::default()));
            faulty.inject(FaultRule::new(Operation::Put, fault).path_contains("signing-key"));
            let first = SigningKey::load_or_create(&faulty).await.unwrap();
            let again = SigningKey::load_or_create(&faulty).await.unwrap();
            assert_eq!(again.open(&first.seal(b"x")).unwrap(), b"x", "{fault:?}");
        }
    }

    #[test]
    fn anything_but_a_sealed_token_is_refused() {
        let key = SigningKey::from_bytes([1; 32]);
        let token = key.seal(br#"{"a":1}"#);
        for bad in [
            "",
            ".",
            "abc",
            &token[..token.len() - 2],
            &format!("{token}x"),
            &token.replace('.', ""),
        ] {
            assert_eq!(key.open(bad), None, "{bad}");
        }
    }
}
