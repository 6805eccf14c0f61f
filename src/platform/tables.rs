//! Tables written for spreadsheets: RFC 4180 CSV whose text cells cannot run as formulas.

/// Text as one CSV cell. Text that a spreadsheet would read as a formula (starting with
/// =, +, -, @, a tab or a carriage return) is prefixed with an apostrophe (OWASP's advice
/// against CSV injection); numbers are written by `cell` and never changed.
pub fn text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// A table as RFC 4180 CSV (UTF-8, CRLF line ends, a header row, quotes where needed).
pub fn to_csv(header: &[String], rows: &[Vec<String>]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
