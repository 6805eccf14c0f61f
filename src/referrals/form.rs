//! Data-collection forms, as pure functions: field definitions and their checks, the
//! validation of a commune's answers (each error names the field's path), and the
//! consolidation of the answers into a dataset with totals and per-inhabitant values.
use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

str_enum!(
    /// The type of a form field.
    FieldType {
        /// Free text (bounds: length in characters).
        Text = "TEXT",
        /// Whole number (bounds: value).
        Integer = "INTEGER",
        /// Decimal number with a unit, e.g. km or € (bounds: value).
        Decimal = "DECIMAL",
        /// Yes or no.
        Boolean = "BOOLEAN",
        /// A date, YYYY-MM-DD.
        Date = "DATE",
        /// One of the choices.
        SingleChoice = "SINGLE_CHOICE",
        /// Several of the choices (bounds: how many).
        MultipleChoice = "MULTIPLE_CHOICE",
        /// A file uploaded with `uploadResponseFile`: the answer is its document ID.
        File = "FILE",
    }
);

impl FieldType {
    pub fn numeric(self) -> bool {
        matches!(self, FieldType::Integer | FieldType::Decimal)
    }
}

/// One field of a form, as stored (JSON) and as returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub unit: Option<String>,
    #[serde(default)]
    pub choices: Vec<String>,
}

impl Field {
    /// The field's type. `parse_fields` refuses a stored form with an unknown type, so a
    /// field read from storage always has a known one; a Field built by hand with an
    /// unknown type reads as TEXT, which accepts least.
    pub fn field_type(&self) -> FieldType {
        FieldType::parse(&self.kind).unwrap_or(FieldType::Text)
    }
}

/// A refused definition or answer: the path of the offending field and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid { path: path.into(), message: message.into() }
}

pub const MAX_FIELDS: usize = 200;
const MAX_TEXT: usize = 10_000;

/// Checks a form's definition: 1 to 200 fields; keys in snake_case and unique; choices
/// for choice fields and only for them; a unit only on numbers; min ≤ max.
pub fn check_fields(fields: &[Field]) -> Result<(), Invalid> {
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return Err(invalid("fields", format!("a form has 1 to {MAX_FIELDS} fields")));
    }
    let mut keys = HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let path = |p: &str| format!("fields.{i}.{p}");
        let key_ok = (1..=64).contains(&f.key.len())
            && f.key.starts_with(|c: char| c.is_ascii_lowercase())
            && f.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err(invalid(path("key"), "a key is 1 to 64 characters of a-z, 0-9 and _, starting with a letter"));
        }
        if !keys.insert(f.key.as_str()) {
            return Err(invalid(path("key"), format!("the key {} is used twice", f.key)));
        }
        if f.label.trim().is_empty() || f.label.chars().count() > 500 {
            return Err(invalid(path("label"), "a label has 1 to 500 characters"));
        }
        let t = FieldType::parse(&f.kind).ok_or_else(|| invalid(path("type"), "unknown field type"))?;
        let choice = matches!(t, FieldType::SingleChoice | FieldType::MultipleChoice);
        if choice {
            let distinct: HashSet<&str> = f.choices.iter().map(String::as_str).collect();
            if f.choices.is_empty()
                || distinct.len() != f.choices.len()
                || f.choices.iter().any(|c| c.trim().is_empty())
            {
                return Err(invalid(path("choices"), "a choice field needs distinct, non-empty choices"));
            }
        } else if !f.choices.is_empty() {
            return Err(invalid(path("choices"), "only choice fields have choices"));
        }
        if f.unit.is_some() && !t.numeric() {
            return Err(invalid(path("unit"), "only numbers have a unit"));
        }
        if t == FieldType::Decimal && f.unit.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err(invalid(path("unit"), "a decimal field states its unit"));
        }
        let bounded =
            matches!(t, FieldType::Text | FieldType::Integer | FieldType::Decimal | FieldType::MultipleChoice);
        if !bounded && (f.min.is_some() || f.max.is_some()) {
            return Err(invalid(path("min"), "this type of field takes no bounds"));
        }
        if let (Some(lo), Some(hi)) = (f.min, f.max) {
            if lo > hi {
                return Err(invalid(path("min"), "min is above max"));
            }
        }
        if [f.min, f.max].iter().flatten().any(|b| !b.is_finite()) {
            return Err(invalid(path("min"), "bounds are finite numbers"));
        }
    }
    Ok(())
}

/// Validates a commune's answers against the form. `complete`: every required field
/// must be answered (submission); a draft may be partial. Returns the answers normalised
/// (nulls dropped); FILE answers are returned as given, for the caller to check they
/// name the commune's own uploads.
pub fn validate_answers(fields: &[Field], answers: &Value, complete: bool) -> Result<Map<String, Value>, Invalid> {
    let obj = match answers {
        Value::Object(o) => o,
        Value::Null => &Map::new(),
        _ => return Err(invalid("answers", "answers are an object: field key -> value")),
    };
    for k in obj.keys() {
        if !fields.iter().any(|f| &f.key == k) {
            return Err(invalid(format!("answers.{k}"), "no such field in this form"));
        }
    }
    let mut out = Map::new();
    for f in fields {
        let path = format!("answers.{}", f.key);
        let v = obj.get(&f.key).filter(|v| !v.is_null());
        let Some(v) = v else {
            if complete && f.required {
                return Err(invalid(path, format!("« {} » is required", f.label)));
            }
            continue;
        };
        let within = |x: f64, what: &str| -> Result<(), Invalid> {
            if f.min.is_some_and(|lo| x < lo) || f.max.is_some_and(|hi| x > hi) {
                let b = |o: Option<f64>| o.map_or("-".to_string(), |x| x.to_string());
                return Err(invalid(&path, format!("{what} must be between {} and {}", b(f.min), b(f.max))));
            }
            Ok(())
        };
        match f.field_type() {
            FieldType::Text => {
                let s = v.as_str().ok_or_else(|| invalid(&path, "expected text"))?;
                let n = s.chars().count();
                if n > MAX_TEXT {
                    return Err(invalid(&path, format!("at most {MAX_TEXT} characters")));
                }
                within(n as f64, "the length")?;
            }
            FieldType::Integer => {
                let n = v.as_i64().ok_or_else(|| invalid(&path, "expected a whole number"))?;
                within(n as f64, "the value")?;
            }
            FieldType::Decimal => {
                let x = v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| invalid(&path, "expected a number"))?;
                within(x, "the value")?;
            }
            FieldType::Boolean => {
                v.as_bool().ok_or_else(|| invalid(&path, "expected true or false"))?;
            }
            FieldType::Date => {
                let s = v.as_str().ok_or_else(|| invalid(&path, "expected a date YYYY-MM-DD"))?;
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| invalid(&path, "expected a date YYYY-MM-DD"))?;
                // Every date input is bounded (platform/dates.rs), answers' dates too.
                if !crate::platform::dates::year_in_range(chrono::Datelike::year(&d)) {
                    return Err(invalid(&path, "expected a date between the years 2000 and 2100"));
                }
            }
            FieldType::SingleChoice => {
                let s = v.as_str().ok_or_else(|| invalid(&path, "expected one of the choices"))?;
                if !f.choices.iter().any(|c| c == s) {
                    return Err(invalid(&path, format!("« {s} » is not one of the choices")));
                }
            }
            FieldType::MultipleChoice => {
                let list = v.as_array().ok_or_else(|| invalid(&path, "expected a list of choices"))?;
                let mut seen = HashSet::new();
                for (i, c) in list.iter().enumerate() {
                    let s = c.as_str().ok_or_else(|| invalid(format!("{path}.{i}"), "expected a choice"))?;
                    if !f.choices.iter().any(|x| x == s) {
                        return Err(invalid(format!("{path}.{i}"), format!("« {s} » is not one of the choices")));
                    }
                    if !seen.insert(s) {
                        return Err(invalid(format!("{path}.{i}"), format!("« {s} » is chosen twice")));
                    }
                }
                if complete && f.required && list.is_empty() {
                    return Err(invalid(&path, format!("« {} » is required", f.label)));
                }
                within(list.len() as f64, "the number of choices")?;
            }
            FieldType::File => {
                v.as_str().filter(|s| !s.is_empty()).ok_or_else(|| invalid(&path, "expected a document ID"))?;
            }
        }
        out.insert(f.key.clone(), v.clone());
    }
    Ok(out)
}

/// One commune's row of a dataset, before sorting.
#[derive(Clone, Debug)]
pub struct Row {
    pub commune_id: i32,
    pub name: String,
    pub insee_code: String,
    pub population: Option<i64>,
    /// None: no submitted answer.
    pub answers: Option<Map<String, Value>>,
}

/// Totals of one numeric field over the communes that answered it.
#[derive(Clone, Debug, PartialEq)]
pub struct Total {
    pub key: String,
    pub sum: f64,
    pub answered: i64,
    /// The population of the communes that answered the field.
    pub population: i64,
    /// `sum / population`, when the population is known.
    pub per_inhabitant: Option<f64>,
}

pub fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// Totals per numeric field.
pub fn totals(fields: &[Field], rows: &[Row]) -> Vec<Total> {
    fields
        .iter()
        .filter(|f| f.field_type().numeric())
        .map(|f| {
            let mut t = Total { key: f.key.clone(), sum: 0.0, answered: 0, population: 0, per_inhabitant: None };
            for r in rows {
                if let Some(x) = r.answers.as_ref().and_then(|a| a.get(&f.key)).and_then(number) {
                    t.sum += x;
                    t.answered += 1;
                    t.population += r.population.unwrap_or(0);
                }
            }
            t.per_inhabitant = (t.population > 0).then(|| t.sum / t.population as f64);
            t
        })
        .collect()
}

/// The value of `key` per inhabitant of the row's commune.
pub fn per_inhabitant(row: &Row, key: &str) -> Option<f64> {
    let x = row.answers.as_ref()?.get(key).and_then(number)?;
    row.population.filter(|p| *p > 0).map(|p| x / p as f64)
}

/// Sorts rows by commune name (None) or by a field, numbers numerically; rows without
/// the value come last whatever the direction.
pub fn sort_rows(rows: &mut [Row], key: Option<&str>, descending: bool, per_inhabitant_order: bool) {
    let name_order = |a: &Row, b: &Row| a.name.cmp(&b.name).then(a.insee_code.cmp(&b.insee_code));
    match key {
        None => {
            rows.sort_by(name_order);
            if descending {
                rows.reverse();
            }
        }
        Some(k) => rows.sort_by(|a, b| {
            let value = |r: &Row| -> Option<SortKey> {
                if per_inhabitant_order {
                    return per_inhabitant(r, k).map(SortKey::Number);
                }
                let v = r.answers.as_ref()?.get(k)?;
                Some(number(v).map(SortKey::Number).unwrap_or_else(|| SortKey::Text(cell(v))))
            };
            match (value(a), value(b)) {
                (Some(x), Some(y)) => {
                    let o = x.compare(&y);
                    (if descending { o.reverse() } else { o }).then_with(|| name_order(a, b))
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => name_order(a, b),
            }
        }),
    }
}

enum SortKey {
    Number(f64),
    Text(String),
}

impl SortKey {
    /// Numbers before text; numbers by value (total order), text by code point.
    fn compare(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (SortKey::Number(x), SortKey::Number(y)) => x.total_cmp(y),
            (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
            (SortKey::Number(_), SortKey::Text(_)) => Less,
            (SortKey::Text(_), SortKey::Number(_)) => Greater,
        }
    }
}

pub use crate::platform::tables::{text_cell, to_csv};

/// An answer as one CSV cell: text through `text_cell`, numbers and booleans in JSON
/// notation, several choices joined with "; ".
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => text_cell(s),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// Answers as stored (a JSON object) back to a map.
pub fn parse_answers(stored: Option<&Value>) -> Result<Option<Map<String, Value>>, String> {
    match stored {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err("stored answers are not a JSON object".into()),
    }
}

/// A form's fields as stored (a JSON array); an unreadable form, or a field of an
/// unknown type, is an error, never an empty or a TEXT field.
pub fn parse_fields(stored: Option<&Value>) -> Result<Vec<Field>, String> {
    let Some(stored) = stored.filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let fields: Vec<Field> =
        Vec::<Field>::deserialize(stored).map_err(|e| format!("stored form is not readable: {e}"))?;
    match fields.iter().find(|f| FieldType::parse(&f.kind).is_none()) {
        Some(f) => Err(format!("stored form field {:?} has unknown type {:?}", f.key, f.kind)),
        None => Ok(fields),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(key: &str, kind: FieldType, required: bool) -> Field {
        Field {
            key: key.into(),
            label: key.into(),
            kind: kind.as_str().into(),
            required,
            min: None,
            max: None,
            unit: (kind == FieldType::Decimal).then(|| "km".into()),
            choices: if matches!(kind, FieldType::SingleChoice | FieldType::MultipleChoice) {
                vec!["a".into(), "b".into()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn definitions_are_checked() {
        let ok = vec![field("roads_km", FieldType::Decimal, true), field("mode", FieldType::SingleChoice, false)];
        assert!(check_fields(&ok).is_ok());
        let mut twice = ok.clone();
        twice.push(field("roads_km", FieldType::Integer, false));
        assert_eq!(check_fields(&twice).unwrap_err().path, "fields.2.key");
        let mut no_unit = ok.clone();
        no_unit[0].unit = None;
        assert_eq!(check_fields(&no_unit).unwrap_err().path, "fields.0.unit");
        let mut no_choices = ok.clone();
        no_choices[1].choices.clear();
        assert_eq!(check_fields(&no_choices).unwrap_err().path, "fields.1.choices");
        let mut bad_key = ok;
        bad_key[0].key = "Roads".into();
        assert_eq!(check_fields(&bad_key).unwrap_err().path, "fields.0.key");
    }

    #[test]
    fn answers_are_validated_with_their_path() {
        let mut agents = field("agents", FieldType::Integer, true);
        agents.min = Some(0.0);
        agents.max = Some(10_000.0);
        let fields = vec![
            agents,
            field("km", FieldType::Decimal, false),
            field("open", FieldType::Boolean, false),
            field("since", FieldType::Date, false),
            field("modes", FieldType::MultipleChoice, false),
        ];
        let ok = validate_answers(&fields, &json!({"agents": 12, "km": 3.5, "modes": ["a", "b"]}), true).unwrap();
        assert_eq!(ok.len(), 3);
        let err = |v: Value, complete| validate_answers(&fields, &v, complete).unwrap_err().path;
        assert_eq!(err(json!({"agents": -1}), false), "answers.agents");
        assert_eq!(err(json!({"agents": 1.5}), false), "answers.agents");
        assert_eq!(err(json!({"km": "far"}), false), "answers.km");
        assert_eq!(err(json!({"since": "2026-02-30"}), false), "answers.since");
        assert_eq!(err(json!({"since": "1999-12-31"}), false), "answers.since");
        assert_eq!(err(json!({"since": "-262143-01-01"}), false), "answers.since");
        assert!(validate_answers(&fields, &json!({"since": "2100-12-31"}), false).is_ok());
        assert_eq!(err(json!({"modes": ["a", "c"]}), false), "answers.modes.1");
        assert_eq!(err(json!({"modes": ["a", "a"]}), false), "answers.modes.1");
        assert_eq!(err(json!({"nope": 1}), false), "answers.nope");
        // A draft may leave a required field empty; a submission may not.
        assert!(validate_answers(&fields, &json!({"km": 1}), false).is_ok());
        assert_eq!(err(json!({"km": 1}), true), "answers.agents");
    }

    fn row(name: &str, population: i64, answers: Value) -> Row {
        Row {
            commune_id: 0,
            name: name.into(),
            insee_code: name.into(),
            population: Some(population),
            answers: match answers {
                Value::Object(o) => Some(o),
                _ => None,
            },
        }
    }

    #[test]
    fn totals_and_per_inhabitant_values_count_the_communes_that_answered() {
        let fields = vec![field("agents", FieldType::Integer, true), field("km", FieldType::Decimal, false)];
        let rows = vec![
            row("Aubagne", 1000, json!({"agents": 10, "km": 2.0})),
            row("Cassis", 500, json!({"agents": 10})),
            row("Allauch", 300, Value::Null),
        ];
        let t = totals(&fields, &rows);
        assert_eq!((t[0].sum, t[0].answered, t[0].population), (20.0, 2, 1500));
        assert!((t[0].per_inhabitant.unwrap() - 20.0 / 1500.0).abs() < 1e-12);
        assert_eq!((t[1].sum, t[1].answered, t[1].population), (2.0, 1, 1000));
        assert_eq!(per_inhabitant(&rows[1], "agents"), Some(0.02));
        let mut sorted = rows.clone();
        sort_rows(&mut sorted, Some("agents"), true, true);
        let names: Vec<&str> = sorted.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Cassis", "Aubagne", "Allauch"], "by agents per inhabitant, the silent last");
        sort_rows(&mut sorted, None, false, false);
        assert_eq!(sorted[0].name, "Allauch");
    }

    #[test]
    fn text_that_a_spreadsheet_would_run_is_defused() {
        assert_eq!(cell(&json!("=HYPERLINK(\"http://x\")")), "'=HYPERLINK(\"http://x\")");
        assert_eq!(cell(&json!("@SUM(A1)")), "'@SUM(A1)");
        assert_eq!(cell(&json!(-3.5)), "-3.5");
        assert_eq!(cell(&json!("Voirie")), "Voirie");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let out = to_csv(&["a".into(), "b".into()], &[vec!["x, \"y\"".into(), "é\nz".into()]]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,b\r\n\"x, \"\"y\"\"\",\"é\nz\"\r\n");
    }
}
