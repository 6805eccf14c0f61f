//! Documents, shared by every domain that keeps files (meetings, referrals, and those to
//! come): a domain keeps its own metadata row (what the file belongs to, who may read it)
//! and hands the content to this module.
//!
//! - upload: [`read_upload`] (bounded, after the uploader's check), [`check_upload`]
//!   (size, name, media type against the magic bytes, SHA-256), [`put`] (the content, in
//!   chunks, on the domain's transaction);
//! - download: the domain calls [`authorized`] with a future that reads its metadata row
//!   (never the content) and checks the reader's right; the content is read only after
//!   it answered, and streamed chunk by chunk.
mod media;
mod store;
mod upload;

pub use store::{authorized, document_chunk, put, Download, FileMeta, CHUNK_BYTES};
pub use upload::{check_upload, read_upload, CheckedUpload, Upload};
