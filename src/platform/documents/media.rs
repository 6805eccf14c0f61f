//! The media types a document may have, each checked against the content's magic bytes
//! (the `infer` crate's signatures, and the OLE2 one for legacy Office files).
//!
//! A declared type must be one of [`ACCEPTED`] and the content must look like it. A file
//! sent without a type (or as `application/octet-stream`) takes the type its bytes show
//! when that type is accepted, is refused when they show a type we do not accept (an
//! executable, a web page...), and stays `application/octet-stream` when they show none,
//! as before.

/// How a type's content is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signature {
    Pdf,
    Png,
    Jpeg,
    Gif,
    Webp,
    /// A ZIP container: ZIP itself, OpenDocument and Office Open XML files.
    Zip,
    /// An OLE2 compound file: Word, Excel and PowerPoint 97-2003.
    Ole,
    /// Text: no NUL byte (which every binary format above but PDF carries early) and no
    /// accepted binary signature. Not more: a CSV line may well begin with `BM` or `MZ`.
    Text,
}

/// The accepted media types, with the signature their content must carry.
const ACCEPTED: &[(&str, Signature)] = &[
    ("application/pdf", Signature::Pdf),
    ("image/png", Signature::Png),
    ("image/jpeg", Signature::Jpeg),
    ("image/gif", Signature::Gif),
    ("image/webp", Signature::Webp),
    ("application/zip", Signature::Zip),
    ("application/vnd.oasis.opendocument.text", Signature::Zip),
    ("application/vnd.oasis.opendocument.spreadsheet", Signature::Zip),
    ("application/vnd.oasis.opendocument.presentation", Signature::Zip),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", Signature::Zip),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Signature::Zip),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", Signature::Zip),
    ("application/msword", Signature::Ole),
    ("application/vnd.ms-excel", Signature::Ole),
    ("application/vnd.ms-powerpoint", Signature::Ole),
    ("text/plain", Signature::Text),
    ("text/csv", Signature::Text),
];

pub const OCTET_STREAM: &str = "application/octet-stream";

const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// What the checks see of a content: its beginning (the first chunk, where every
/// signature above sits) and whether a NUL byte occurs anywhere in it, so that a content
/// can be checked as it streams by.
pub struct Sample<'a> {
    pub head: &'a [u8],
    pub nul: bool,
}

#[cfg(test)]
impl<'a> Sample<'a> {
    /// The sample of a whole content held in memory.
    pub fn of(content: &'a [u8]) -> Self {
        Sample { head: content, nul: content.contains(&0) }
    }
}

fn carries(sig: Signature, sample: &Sample) -> bool {
    let content = sample.head;
    use infer::{archive, image};
    match sig {
        Signature::Pdf => archive::is_pdf(content),
        Signature::Png => image::is_png(content),
        Signature::Jpeg => image::is_jpeg(content),
        Signature::Gif => image::is_gif(content),
        Signature::Webp => image::is_webp(content),
        Signature::Zip => archive::is_zip(content),
        Signature::Ole => content.starts_with(OLE_MAGIC),
        Signature::Text => !sample.nul && ACCEPTED.iter().all(|(_, s)| *s == Signature::Text || !carries(*s, sample)),
    }
}

/// Why an upload's type was refused (the message is the client's).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub String);

/// The media type to store for `content`, declared as `declared` (already free of control
/// characters), or why it is refused. The declared text is kept as sent (parameters such
/// as `charset` too) when its type is accepted and the content carries its signature.
pub fn check(declared: Option<&str>, sample: &Sample) -> Result<String, Refused> {
    let content = sample.head;
    let essence = declared.map(|d| d.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        None | Some("") | Some(OCTET_STREAM) => sniff(sample),
        Some(e) => match ACCEPTED.iter().find(|(t, _)| *t == e) {
            Some((t, sig)) if carries(*sig, sample) => {
                Ok(declared.map(str::trim).filter(|d| d.len() < 128).unwrap_or(t).to_string())
            }
            Some((t, _)) => Err(Refused(format!("the content is not a {t} file{}", seen(content)))),
            None => Err(Refused(format!("the media type {e} is not accepted (accepted: {})", accepted_list()))),
        },
    }
}

/// The type of an undeclared file, from its bytes: an accepted type it shows, else
/// octet-stream as before; refused when it is a program.
fn sniff(sample: &Sample) -> Result<String, Refused> {
    let content = sample.head;
    if content.starts_with(OLE_MAGIC) {
        // Word, Excel or PowerPoint: which one is inside the file (infer without its
        // `cfb` feature says Word for all three), so kept generic.
        return Ok(OCTET_STREAM.into());
    }
    let Some(found) = infer::get(content) else { return Ok(OCTET_STREAM.into()) };
    let mime = found.mime_type();
    if let Some((t, sig)) = ACCEPTED.iter().find(|(t, _)| *t == mime) {
        if carries(*sig, sample) {
            return Ok((*t).to_string());
        }
    }
    if found.matcher_type() == infer::MatcherType::App {
        return Err(Refused(format!("the content is a program ({mime}), which is not accepted")));
    }
    Ok(OCTET_STREAM.into())
}

fn seen(content: &[u8]) -> String {
    match infer::get(content) {
        Some(t) => format!(" (its content is {})", t.mime_type()),
        None => String::new(),
    }
}

fn accepted_list() -> String {
    ACCEPTED.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all(declared: Option<&str>, content: &[u8]) -> Result<String, Refused> {
        check(declared, &Sample::of(content))
    }

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D];
    const ZIP: &[u8] = &[b'P', b'K', 3, 4, 20, 0, 0, 0];

    fn elf() -> Vec<u8> {
        let mut v = vec![0x7F, b'E', b'L', b'F'];
        v.resize(64, 0);
        v
    }

    #[test]
    fn a_declared_type_must_match_the_magic_bytes() {
        assert_eq!(check_all(Some("application/pdf"), b"%PDF-1.7 ..."), Ok("application/pdf".into()));
        assert_eq!(check_all(Some("Application/PDF"), b"%PDF-1.7"), Ok("Application/PDF".into()));
        assert!(check_all(Some("application/pdf"), PNG).unwrap_err().0.contains("image/png"));
        assert!(check_all(Some("application/pdf"), b"annexe").is_err());
        assert_eq!(check_all(Some("image/png"), PNG), Ok("image/png".into()));
        assert!(check_all(Some("image/jpeg"), PNG).is_err());
        assert_eq!(
            check_all(Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document"), ZIP),
            Ok("application/vnd.openxmlformats-officedocument.wordprocessingml.document".into())
        );
        assert_eq!(check_all(Some("application/msword"), OLE_MAGIC), Ok("application/msword".into()));
        assert!(check_all(Some("application/vnd.ms-excel"), ZIP).is_err());
    }

    #[test]
    fn text_is_text_and_nothing_else() {
        assert_eq!(check_all(Some("text/csv; charset=utf-8"), b"a;b\n1;2\n"), Ok("text/csv; charset=utf-8".into()));
        assert_eq!(check_all(Some("text/plain"), "é ü".as_bytes()), Ok("text/plain".into()));
        assert!(check_all(Some("text/plain"), b"a\0b").is_err());
        assert!(check_all(Some("text/plain"), &elf()).is_err());
        assert!(check_all(Some("text/csv"), b"%PDF-1.4").is_err());
        // A NUL anywhere in a streamed content, not only in its first chunk.
        assert!(check(Some("text/plain"), &Sample { head: b"a;b\n", nul: true }).is_err());
        // Weak two-byte signatures (BMP, DOS executables) do not make text binary.
        assert_eq!(check_all(Some("text/csv"), b"BMW;MZ\n"), Ok("text/csv".into()));
    }

    #[test]
    fn types_we_do_not_accept_are_refused() {
        assert!(check_all(Some("text/html"), b"<html></html>").unwrap_err().0.contains("not accepted"));
        assert!(check_all(Some("application/x-msdownload"), b"MZ\x90\0").is_err());
    }

    #[test]
    fn undeclared_files_take_the_type_their_bytes_show() {
        assert_eq!(check_all(None, b"%PDF-1.4"), Ok("application/pdf".into()));
        assert_eq!(check_all(Some("application/octet-stream"), PNG), Ok("image/png".into()));
        assert_eq!(check_all(None, b"just bytes"), Ok(OCTET_STREAM.into()));
        assert_eq!(check_all(None, OLE_MAGIC), Ok(OCTET_STREAM.into()));
        assert!(check_all(None, &elf()).unwrap_err().0.contains("program"));
        assert!(check_all(Some("application/octet-stream"), b"MZ\x90\0\x03").is_err());
    }
}
