//! Every GraphQL example of README.md runs, in the README's order, against the demo, so a
//! stale example fails here rather than in a newcomer's hands.
//!
//! What runs: every operation of every ```graphql block (a block may hold several; each
//! is cut at the brace that closes it), and the query of every curl example (`-d '{...}'`
//! in a ```sh block that posts to `/graphql`). They run on a fresh demo (`TestApp::demo`),
//! one after the other, as one reader would type them.
//!
//! Conventions the README follows, so that a human can read it as it is:
//! - **Signing in**: an answer with `login.token` (the README's login examples) makes
//!   that token the one sent with every example after it, as the README tells the reader
//!   to do. Before the first login, examples are sent anonymously.
//! - **Ids from earlier answers**: where an example needs an id the reader gets from an
//!   earlier example, the README writes a placeholder string in capitals ending in `_ID`
//!   (`bodyId: "BODY_ID"`), and the text says which answer it comes from. The test
//!   replaces it with the value at the path given in [`SOURCES`], taken from the most
//!   recent answer that has it. A placeholder missing from [`SOURCES`], or without an
//!   earlier answer to take it from, fails the test.
//! - **Subscriptions** run over /graphql/ws with the current token; their first message
//!   (the current state) is the answer.
//! - **Dates** of meetings (`"YYYY-MM-DDTHH:MM:SS"`) lie far ahead, so that convening
//!   keeps its notice: this test fails a year before one comes within reach of today,
//!   saying which to move. Past dates (a deliberation's) are plain dates and stay valid.
//!
//! An example fails the test, with its text and its line in README.md, when its answer
//! has `errors`, or a null anywhere in `data` (an example shows what it asks for) other
//! than those [`EXPECTED_NULLS`] lists with their reason.
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// Placeholder -> where its value is in an earlier answer: a path of field names and
/// list indices separated by dots; `list[field=VALUE]` picks the first element of a list
/// whose `field` is `VALUE`.
const SOURCES: &[(&str, &str)] = &[
    ("INTERCOMMUNALITY_ID", "intercommunality.id"),
    ("BODY_ID", "bodies.nodes[kind=CONFERENCE_OF_MAYORS].id"),
    ("MEETING_ID", "createMeeting.id"),
    ("REFERRAL_ID", "createReferral.id"),
    ("COMMUNE_ID", "commune.id"),
    ("POLICY_ID", "createPolicy.id"),
    ("AGENDA_ID", "policies.nodes[kind=AGENDA_OR_PLAN].id"),
    ("PACT_ID", "policies.nodes[kind=GOVERNANCE_PACT].id"),
];

/// Nulls an example's answer may hold, by the end of their path in `data` (list indices
/// left out), and why they are expected rather than a sign of a broken example.
const EXPECTED_NULLS: &[(&str, &str)] = &[
    (
        "qualifiedMajority.branch",
        "the branch by which the majority is reached: none while it is not (one answer of 92)",
    ),
    ("contributions.nodes.answer", "the demo's comment and question await their answer"),
    ("approvalPath.outcome", "the pact's last two steps are not reached yet"),
    ("approvalPath.versionNumber", "the pact's last two steps are not reached yet"),
    ("approvalPath.decidedOn", "the pact's last two steps are not reached yet"),
];

/// One example as it appears in README.md.
#[derive(Debug)]
struct Example {
    line: usize,
    text: String,
}

/// The README's examples in order: the operations of ```graphql blocks and the queries
/// of curl commands posting to /graphql.
fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut block: Option<(String, usize, String)> = None; // (language, first line, text)
    for (n, line) in readme.lines().enumerate() {
        let n = n + 1;
        if let Some(fence) = line.trim_start().strip_prefix("```") {
            match block.take() {
                None => block = Some((fence.trim().to_string(), n + 1, String::new())),
                Some((lang, first, text)) => match lang.as_str() {
                    "graphql" => out.extend(operations(&text, first)),
                    "sh" | "bash" | "shell" => out.extend(curl_queries(&text, first)),
                    _ => {}
                },
            }
        } else if let Some((_, _, text)) = block.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    assert!(block.is_none(), "README.md has an unclosed ``` block");
    out
}

/// Cuts a GraphQL block into its operations: each ends at the brace that brings the
/// nesting back to zero (strings and comments skipped).
fn operations(text: &str, first_line: usize) -> Vec<Example> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut line, mut start_line) = (0usize, None::<usize>, first_line, first_line);
    let (mut in_string, mut escaped, mut in_comment) = (false, false, false);
    for (i, c) in text.char_indices() {
        if c == '\n' {
            line += 1;
            in_comment = false;
            continue;
        }
        if in_comment {
            continue;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '#' => in_comment = true,
            '"' => in_string = true,
            c if c.is_whitespace() => continue,
            _ => {}
        }
        if start.is_none() && !in_comment {
            start = Some(i);
            start_line = line;
        }
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1).unwrap_or_else(|| panic!("README.md:{line}: unbalanced `}}`"));
                if depth == 0 {
                    if let Some(s) = start.take() {
                        out.push(Example { line: start_line, text: text[s..=i].to_string() });
                    }
                }
            }
            _ => {}
        }
    }
    assert!(depth == 0 && start.is_none(), "README.md:{start_line}: an operation is not closed");
    out
}

/// The GraphQL queries of `curl ... /graphql ... -d '{"query":...}'` commands.
fn curl_queries(text: &str, first_line: usize) -> Vec<Example> {
    let mut out = Vec::new();
    // A command runs over continued lines (ending in `\`).
    let mut command = String::new();
    let mut command_line = first_line;
    for (n, line) in text.lines().enumerate() {
        if command.is_empty() {
            command_line = first_line + n;
        }
        command.push_str(line.trim_end().trim_end_matches('\\'));
        command.push(' ');
        if line.trim_end().ends_with('\\') {
            continue;
        }
        if command.contains("curl") && command.contains("/graphql") {
            let mut rest = command.as_str();
            while let Some(at) = rest.find("-d '") {
                let body = &rest[at + 4..];
                let end = body.find('\'').unwrap_or_else(|| panic!("README.md:{command_line}: unclosed -d '"));
                let payload: Value = serde_json::from_str(&body[..end])
                    .unwrap_or_else(|e| panic!("README.md:{command_line}: the curl payload is not JSON ({e})"));
                let query = payload["query"].as_str().unwrap_or_else(|| panic!("README.md:{command_line}: no query"));
                out.push(Example { line: command_line, text: query.to_string() });
                rest = &body[end + 1..];
            }
        }
        command.clear();
    }
    out
}

/// The value at `path` in `data` (see [`SOURCES`]).
fn at<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = data;
    for step in path.split('.') {
        v = match step.split_once('[') {
            Some((field, filter)) => {
                let (key, want) = filter.trim_end_matches(']').split_once('=')?;
                v.get(field)?.as_array()?.iter().find(|e| e.get(key).and_then(Value::as_str) == Some(want))?
            }
            None => match step.parse::<usize>() {
                Ok(i) => v.get(i)?,
                Err(_) => v.get(step)?,
            },
        };
    }
    Some(v)
}

/// The placeholders (`"SOMETHING_ID"`) of an example.
fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, part) in text.split('"').enumerate() {
        let is_literal = i % 2 == 1;
        if is_literal
            && part.ends_with("_ID")
            && part.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && part.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            found.push(part.to_string());
        }
    }
    found
}

/// Paths to the nulls in an answer.
fn nulls(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_string()),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, e)| nulls(e, &format!("{path}.{i}"), out)),
        Value::Object(o) => o.iter().for_each(|(k, e)| nulls(e, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

/// Meeting times (`"YYYY-MM-DDTHH:MM..."`) that come within a year of today.
fn dates_going_stale(text: &str) -> Vec<String> {
    let soon = chrono::Utc::now().date_naive() + chrono::Days::new(366);
    text.split('"')
        .filter(|s| s.len() >= 16 && s.as_bytes()[10] == b'T')
        .filter(|s| chrono::NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").is_ok_and(|d| d < soon))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_graphql_example_of_the_readme_runs_against_the_demo() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let examples = examples(&readme);
    assert!(examples.len() >= 10, "only {} examples found in README.md: {examples:?}", examples.len());
    let app = TestApp::demo().await;
    let mut token: Option<String> = None;
    let mut answers: Vec<Value> = Vec::new();
    for ex in &examples {
        let where_ = format!("README.md:{}", ex.line);
        let stale = dates_going_stale(&ex.text);
        assert!(
            stale.is_empty(),
            "{where_}: the example's date {stale:?} comes within a year: move it later\n{}",
            ex.text
        );
        let mut query = ex.text.clone();
        for name in placeholders(&ex.text) {
            let path =
                SOURCES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).unwrap_or_else(|| {
                    panic!("{where_}: placeholder {name} is not in readme.rs's SOURCES\n{}", ex.text)
                });
            let value = answers
                .iter()
                .rev()
                .find_map(|a| at(a, path).and_then(Value::as_str))
                .unwrap_or_else(|| panic!("{where_}: no earlier answer gives {name} (at {path})\n{}", ex.text));
            query = query.replace(&format!("\"{name}\""), &format!("\"{value}\""));
        }
        let answer = if query.trim_start().starts_with("subscription") {
            // Over WebSocket, as GraphiQL sends it: the first message (the current state).
            let mut ws = crate::live::Client::signed_in(&app, token.as_deref().expect("signed in")).await;
            ws.subscribe("readme", &query, json!({})).await;
            let first = ws.next().await.expect("a first message");
            assert_eq!(first["type"], "next", "{where_}: {first}");
            first["payload"].clone()
        } else {
            app.gql(token.as_deref(), &query, json!({})).await
        };
        let has_errors = answer.get("errors").is_some_and(|e| !e.is_null());
        assert!(!has_errors, "{where_}: the example fails\n{}\n\nanswer: {answer:#}", ex.text);
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        let mut found = Vec::new();
        nulls(&data, "data", &mut found);
        found.retain(|p| {
            let named: Vec<&str> = p.split('.').filter(|s| s.parse::<usize>().is_err()).collect();
            let named = named.join(".");
            !EXPECTED_NULLS.iter().any(|(end, _)| named.ends_with(&format!(".{end}")))
        });
        assert!(found.is_empty(), "{where_}: the answer has nulls at {found:?}\n{}\n\nanswer: {answer:#}", ex.text);
        if let Some(t) = data["login"]["token"].as_str() {
            token = Some(t.to_string());
        }
        answers.push(data);
    }
    eprintln!("{} README examples ran", examples.len());
}

#[test]
fn examples_are_cut_one_operation_each_and_curl_queries_read() {
    let text = "```graphql\nmutation { a(x: \"}\") { b } }\n# a comment with a }\n{\n  c { d }\n}\n```\n\
                ```sh\ncurl -s localhost:8080/graphql \\\n  -d '{\"query\":\"{e}\"}'\n```\n";
    let ex = examples(text);
    let texts: Vec<&str> = ex.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["mutation { a(x: \"}\") { b } }", "{\n  c { d }\n}", "{e}"]);
    assert_eq!(ex.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4, 9]);
    assert_eq!(placeholders("{ a(id: \"BODY_ID\", b: \"Not_ID\", c: \"X\") }"), ["BODY_ID"]);
    let data = json!({"bodies": [{"kind": "CONFERENCE_OF_MAYORS", "id": "1"}, {"kind": "WORKING_GROUP", "id": "2"}]});
    assert_eq!(at(&data, "bodies[kind=WORKING_GROUP].id"), Some(&json!("2")));
    assert_eq!(at(&data, "bodies.0.id"), Some(&json!("1")));
}
