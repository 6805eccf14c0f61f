//! An upload on its way in: the file async-graphql spooled off the multipart request
//! (on disk, never whole in memory), checked as it is read once (size, file name, media
//! type against the magic bytes, SHA-256), then stored chunk by chunk.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::media::{self, Sample};
use super::store::CHUNK_BYTES;
use crate::error::{AppError, AppResult};
use crate::AppState;

/// A file as the client sent it: its content is a file (the multipart spool).
pub struct Upload {
    pub filename: String,
    pub media_type: Option<String>,
    pub content: File,
}

/// An upload checked for storage: its base name, a media type its content carries, its
/// SHA-256 and size; the content stays in its file until [`super::put`] reads it.
pub struct CheckedUpload {
    pub filename: String,
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
    pub content: File,
}

impl CheckedUpload {
    pub fn size_bytes(&self) -> i64 {
        i64::try_from(self.size).unwrap_or(i64::MAX)
    }
}

/// Checks an upload: not empty, at most `max` bytes, a file name of 1 to 255 characters
/// (the path dropped), an accepted media type that the content's magic bytes bear out
/// (see media.rs). Every refusal is VALIDATION on `file`. The content is read once, a
/// chunk at a time, off the runtime's threads.
pub async fn check_upload(file: Upload, max: usize) -> AppResult<CheckedUpload> {
    tokio::task::spawn_blocking(move || check_file(file, max)).await.map_err(AppError::internal)?
}

fn check_file(file: Upload, max: usize) -> AppResult<CheckedUpload> {
    let Upload { filename, media_type, mut content } = file;
    let size = content.metadata().map_err(AppError::internal)?.len();
    if size > max as u64 {
        return Err(AppError::validation("file", format!("documents are limited to {max} bytes")));
    }
    if size == 0 {
        return Err(AppError::validation("file", "the file is empty"));
    }
    let name = filename.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(AppError::validation("file", "file must have a name of 1 to 255 characters"));
    }
    // One pass: the hash, the first chunk (where the signatures are) and any NUL byte.
    content.seek(SeekFrom::Start(0)).map_err(AppError::internal)?;
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut nul = false;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = content.read(&mut buf).map_err(AppError::internal)?;
        if n == 0 {
            break;
        }
        let part = &buf[..n];
        hasher.update(part);
        nul |= part.contains(&0);
        if head.len() < CHUNK_BYTES {
            let take = (CHUNK_BYTES - head.len()).min(n);
            head.extend_from_slice(&part[..take]);
        }
    }
    let declared = media_type.as_deref().filter(|t| !t.chars().any(char::is_control));
    let media_type =
        media::check(declared, &Sample { head: &head, nul }).map_err(|r| AppError::validation("file", r.0))?;
    let sha256 = hex::encode(hasher.finalize());
    Ok(CheckedUpload { filename: name.to_string(), media_type, sha256, size, content })
}

/// Takes a GraphQL multipart upload's spooled file (async-graphql writes every part to a
/// temporary file as it arrives, within the request's size limit). Call it once the
/// uploader's right has been checked; [`check_upload`] refuses a file above the document
/// limit from its size alone.
pub fn read_upload(ctx: &async_graphql::Context<'_>, file: async_graphql::Upload) -> AppResult<Upload> {
    let value = file.value(ctx).map_err(|_| AppError::validation("file", "no file in this multipart request"))?;
    // The state is there on every schema we build; asked for so that a schema without it
    // fails here rather than at storage.
    ctx.data::<AppState>().map_err(|_| AppError::internal("application state missing from schema"))?;
    Ok(Upload { filename: value.filename, media_type: value.content_type, content: value.content })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn up(name: &str, t: Option<&str>, content: &[u8]) -> Upload {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        Upload { filename: name.into(), media_type: t.map(String::from), content: f }
    }

    #[test]
    fn uploads_are_checked_before_storage() {
        let ok = check_file(up("../../note.pdf", Some("application/pdf"), b"%PDF-1.4"), 16).unwrap();
        assert_eq!((ok.filename.as_str(), ok.media_type.as_str()), ("note.pdf", "application/pdf"));
        assert_eq!(ok.sha256, hex::encode(Sha256::digest(b"%PDF-1.4")));
        assert_eq!(ok.size_bytes(), 8);
        let code = |r: AppResult<CheckedUpload>| r.err().map(|e| e.code());
        assert_eq!(code(check_file(up("a.pdf", Some("application/pdf"), &[b'%'; 17]), 16)), Some("VALIDATION"));
        assert_eq!(code(check_file(up("a.pdf", Some("application/pdf"), b""), 16)), Some("VALIDATION"));
        assert_eq!(code(check_file(up("dir/", Some("application/pdf"), b"%PDF"), 16)), Some("VALIDATION"));
        assert_eq!(code(check_file(up("a\u{0}.pdf", Some("application/pdf"), b"%PDF"), 16)), Some("VALIDATION"));
        assert_eq!(code(check_file(up("a.pdf", Some("application/pdf"), b"annexe"), 16)), Some("VALIDATION"));
        assert_eq!(check_file(up("a.bin", None, b"bytes"), 16).unwrap().media_type, "application/octet-stream");
    }

    #[test]
    fn a_large_file_is_hashed_whole_and_a_late_nul_makes_it_binary() {
        let mut text = vec![b'a'; 3 * CHUNK_BYTES + 5];
        let ok = check_file(up("big.txt", Some("text/plain"), &text), 4 * CHUNK_BYTES).unwrap();
        assert_eq!(ok.sha256, hex::encode(Sha256::digest(&text)));
        assert_eq!(ok.size, text.len() as u64);
        *text.last_mut().unwrap() = 0;
        let r = check_file(up("big.txt", Some("text/plain"), &text), 4 * CHUNK_BYTES);
        assert_eq!(r.err().map(|e| e.code()), Some("VALIDATION"));
    }
}
