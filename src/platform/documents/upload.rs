//! An upload on its way in: read off the multipart request (bounded), then checked
//! (size, file name, media type against the magic bytes) and hashed.
use sha2::{Digest, Sha256};

use super::media;
use crate::error::{AppError, AppResult};
use crate::AppState;

/// A file as the client sent it.
pub struct Upload {
    pub filename: String,
    pub media_type: Option<String>,
    pub content: Vec<u8>,
}

/// An upload checked for storage: its base name, a media type its content carries, its
/// SHA-256.
pub struct CheckedUpload {
    pub filename: String,
    pub media_type: String,
    pub sha256: String,
    pub content: Vec<u8>,
}

impl CheckedUpload {
    pub fn size_bytes(&self) -> i64 {
        i64::try_from(self.content.len()).unwrap_or(i64::MAX)
    }
}

/// Checks an upload: not empty, at most `max` bytes, a file name of 1 to 255 characters
/// (the path dropped), an accepted media type that the content's magic bytes bear out
/// (see media.rs). Every refusal is VALIDATION on `file`.
pub fn check_upload(file: Upload, max: usize) -> AppResult<CheckedUpload> {
    if file.content.len() > max {
        return Err(AppError::validation("file", format!("documents are limited to {max} bytes")));
    }
    if file.content.is_empty() {
        return Err(AppError::validation("file", "the file is empty"));
    }
    let name = file.filename.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(AppError::validation("file", "file must have a name of 1 to 255 characters"));
    }
    let declared = file.media_type.as_deref().filter(|t| !t.chars().any(char::is_control));
    let media_type = media::check(declared, &file.content).map_err(|r| AppError::validation("file", r.0))?;
    let sha256 = hex::encode(Sha256::digest(&file.content));
    Ok(CheckedUpload { filename: name.to_string(), media_type, sha256, content: file.content })
}

/// Reads a GraphQL multipart upload off the runtime, up to the document limit plus one
/// byte (so that [`check_upload`] can refuse a file that is too large). Call it once the
/// uploader's right has been checked.
pub async fn read_upload(ctx: &async_graphql::Context<'_>, file: async_graphql::Upload) -> AppResult<Upload> {
    let value = file.value(ctx).map_err(|_| AppError::validation("file", "no file in this multipart request"))?;
    let max = ctx
        .data::<AppState>()
        .map_err(|_| AppError::internal("application state missing from schema"))?
        .config
        .limits
        .document_bytes;
    let filename = value.filename.clone();
    let media_type = value.content_type.clone();
    let content = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut buf = Vec::new();
        value.into_read().take(max as u64 + 1).read_to_end(&mut buf).map(|_| buf)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    Ok(Upload { filename, media_type, content })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(name: &str, t: Option<&str>, content: &[u8]) -> Upload {
        Upload { filename: name.into(), media_type: t.map(String::from), content: content.to_vec() }
    }

    #[test]
    fn uploads_are_checked_before_storage() {
        let ok = check_upload(up("../../note.pdf", Some("application/pdf"), b"%PDF-1.4"), 16).unwrap();
        assert_eq!((ok.filename.as_str(), ok.media_type.as_str()), ("note.pdf", "application/pdf"));
        assert_eq!(ok.sha256, hex::encode(Sha256::digest(b"%PDF-1.4")));
        assert_eq!(ok.size_bytes(), 8);
        let code = |r: AppResult<CheckedUpload>| r.err().map(|e| e.code());
        assert_eq!(code(check_upload(up("a.pdf", Some("application/pdf"), &[b'%'; 17]), 16)), Some("VALIDATION"));
        assert_eq!(code(check_upload(up("a.pdf", Some("application/pdf"), b""), 16)), Some("VALIDATION"));
        assert_eq!(code(check_upload(up("dir/", Some("application/pdf"), b"%PDF"), 16)), Some("VALIDATION"));
        assert_eq!(code(check_upload(up("a\u{0}.pdf", Some("application/pdf"), b"%PDF"), 16)), Some("VALIDATION"));
        assert_eq!(code(check_upload(up("a.pdf", Some("application/pdf"), b"annexe"), 16)), Some("VALIDATION"));
        assert_eq!(check_upload(up("a.bin", None, b"bytes"), 16).unwrap().media_type, "application/octet-stream");
    }
}
