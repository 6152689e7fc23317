//! The metastore's documents on storage: one JSON object per id under a prefix, for the two
//! kinds it keeps (index documents and index templates). Reading, listing, creating and
//! deleting are the same for both, so they are written once here, over [`Document`]; what
//! differs (the prefix, the errors, how a document is checked on read) is the trait's.
//!
//! Commits to an index document (compare-and-swap with commit ids) are not here: they are the
//! metastore's own, in `metastore.rs`, beside the index document's `Document` impl.

use serde::Serialize;

use hydrant_index::template::IndexTemplate;
use hydrant_storage::{ObjectVersion, PutMode, SharedStorage};

use crate::error::{Error, Result};
use crate::paths;

/// A kind of document the metastore keeps.
pub(crate) trait Document: Serialize + Sized {
    /// Where documents of this kind are listed.
    const PREFIX: &'static str;

    /// The path of the document with this id.
    fn path(id: &str) -> String;

    /// The error for a missing document.
    fn not_found(id: &str) -> Error;

    /// The error for a create whose id is taken.
    fn already_exists(id: &str) -> Error;

    /// Whether `stored`, found where this document was being created, is this create's own
    /// write, applied with its response lost (and perhaps changed by commits since).
    fn is_created_as(&self, stored: &Self) -> bool;

    /// A document read back, checked (`location` names it in errors).
    fn parse(location: &str, bytes: &[u8]) -> Result<Self>;
}

impl Document for IndexTemplate {
    const PREFIX: &'static str = paths::TEMPLATES_PREFIX;

    fn path(id: &str) -> String {
        paths::template_document(id)
    }

    fn not_found(id: &str) -> Error {
        Error::TemplateNotFound(id.to_string())
    }

    fn already_exists(id: &str) -> Error {
        Error::TemplateAlreadyExists(id.to_string())
    }

    fn is_created_as(&self, stored: &Self) -> bool {
        // Templates hold no commit id: the same template is as good as ours.
        self == stored
    }

    fn parse(location: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|error| Error::corrupt(location, error))
    }
}

/// A document's bytes as stored.
pub(crate) fn to_payload<D: Document>(id: &str, document: &D) -> Result<Vec<u8>> {
    serde_json::to_vec(document)
        .map_err(|error| Error::corrupt(D::path(id), format!("does not serialize: {error}")))
}

/// The document with this id and the storage version it was read at; `None` if there is none.
pub(crate) async fn read<D: Document>(
    storage: &SharedStorage,
    id: &str,
) -> Result<Option<(D, ObjectVersion)>> {
    let path = D::path(id);
    match storage.get(&path).await {
        Ok(object) => {
            let document = D::parse(&storage.describe(&path), &object.bytes)?;
            Ok(Some((document, object.meta.version)))
        }
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The document with this id, unless it still has `version` (`None`: unchanged): one
/// conditional GET, no body when nothing changed.
pub(crate) async fn read_if_modified<D: Document>(
    storage: &SharedStorage,
    id: &str,
    version: &ObjectVersion,
) -> Result<Option<(D, ObjectVersion)>> {
    let path = D::path(id);
    match storage.get_if_modified(&path, version).await {
        Ok(None) => Ok(None),
        Ok(Some(object)) => {
            let document = D::parse(&storage.describe(&path), &object.bytes)?;
            Ok(Some((document, object.meta.version)))
        }
        Err(error) if error.is_not_found() => Err(D::not_found(id)),
        Err(error) => Err(error.into()),
    }
}

/// The ids of every document of this kind, sorted: one listing, no document read.
pub(crate) async fn list_ids<D: Document>(storage: &SharedStorage) -> Result<Vec<String>> {
    let mut ids: Vec<String> = storage
        .list(D::PREFIX)
        .await?
        .iter()
        .filter_map(|object| paths::document_id(D::PREFIX, &object.path).map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Every document of this kind, sorted by id; one deleted between the listing and its read is
/// left out.
pub(crate) async fn list<D: Document>(storage: &SharedStorage) -> Result<Vec<D>> {
    let mut documents = Vec::new();
    for id in list_ids::<D>(storage).await? {
        if let Some((document, _)) = read::<D>(storage, &id).await? {
            documents.push(document);
        }
    }
    Ok(documents)
}

/// Stores a new document; [`Document::already_exists`] if its id is taken. A create whose
/// response was lost is recognised ([`Document::is_created_as`]) and is a success: the
/// document stored is returned.
pub(crate) async fn create<D: Document>(
    storage: &SharedStorage,
    id: &str,
    document: D,
) -> Result<D> {
    let payload = to_payload(id, &document)?;
    let put_error = match storage
        .put(&D::path(id), payload.into(), PutMode::Create)
        .await
    {
        Ok(_) => return Ok(document),
        Err(error) => error,
    };
    match read::<D>(storage, id).await {
        Ok(Some((stored, _))) if document.is_created_as(&stored) => Ok(stored),
        Ok(Some(_)) if put_error.is_precondition_failed() => Err(D::already_exists(id)),
        _ => Err(put_error.into()),
    }
}

/// Deletes the document with this id; [`Document::not_found`] if there is none.
pub(crate) async fn delete<D: Document>(storage: &SharedStorage, id: &str) -> Result<()> {
    if read::<D>(storage, id).await?.is_none() {
        return Err(D::not_found(id));
    }
    Ok(storage.delete(&D::path(id)).await?)
}
