//! The HTTP edge, tried from outside: nesting that overflowed the stack, uploads that
//! were read before their session was checked, request ids, 429, the engine's error
//! codes, GraphiQL offline, introspection, CORS and the request log.
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{code, ok, TestApp};

/// 300 in login's argument overflowed a debug build's worker stack before the fix (the
/// parser's own stack guard stops it near 350 in debug, near 4,000 in release, where
/// 1,500-2,000 overflowed).
const DEPTHS: [usize; 8] = [100, 200, 300, 340, 1_000, 2_000, 10_000, 100_000];

fn lists(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn objects(depth: usize) -> String {
    format!("{}1{}", "{a:".repeat(depth), "}".repeat(depth))
}

/// Posts a raw JSON body; the status and the answer.
async fn post_text(app: &TestApp, body: String) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answered");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn assert_up(app: &TestApp, what: &str) {
    let health = app.client.get(app.url("/health")).send().await.unwrap_or_else(|e| panic!("{what}: server down: {e}"));
    assert_eq!(health.status(), 200, "{what}");
}

// On worker threads, as the server runs (their stacks are the ones that overflowed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_nested_deeper_than_the_limit_are_refused_and_the_server_stays_up() {
    let app = TestApp::demo().await;
    for depth in DEPTHS {
        let documents = [
            ("a field argument", format!("{{__typename(a:{})}}", lists(depth))),
            ("login's argument", format!("mutation{{login(email:{},password:\"x\"){{token}}}}", objects(depth))),
            ("a variable's default value", format!("query($v:[Int]={}){{__typename}}", lists(depth))),
            ("selection sets", format!("{}__typename{}", "{a".repeat(depth), "}".repeat(depth))),
        ];
        for (what, query) in documents {
            let (status, r) = post_text(&app, json!({ "query": query }).to_string()).await;
            assert_eq!((status, code(&r)), (200, "QUERY_LIMIT".to_string()), "{what} at depth {depth}: {r}");
            assert_up(&app, what).await;
        }
        // In the variables: JSON deeper than 128 is refused as JSON; below, by the same limit.
        let body = format!(r#"{{"query":"query($v:[Int]){{__typename}}","variables":{{"v":{}}}}}"#, lists(depth));
        let (status, r) = post_text(&app, body).await;
        let expected = if depth < 128 { (200, "QUERY_LIMIT") } else { (400, "BAD_REQUEST") };
        assert_eq!((status, code(&r).as_str()), expected, "variables at depth {depth}: {r}");
        assert_up(&app, "variables").await;
        // And in the extensions.
        let body = format!(r#"{{"query":"{{__typename}}","extensions":{{"x":{}}}}}"#, lists(depth));
        let (status, r) = post_text(&app, body).await;
        assert_eq!((status, code(&r).as_str()), expected, "extensions at depth {depth}: {r}");
        assert_up(&app, "extensions").await;
    }
    // Brackets in strings, block strings and comments do not count; within the limit, a
    // document is answered as before.
    let deep_text = "[".repeat(10_000);
    let q = format!("# {deep_text}\nmutation($e:String!=\"{deep_text}\",$p:String!=\"\"\"{deep_text}\"\"\"){{login(email:$e,password:$p){{token}}}}");
    let (_, r) = post_text(&app, json!({ "query": q }).to_string()).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    ok(&app.gql(None, &format!("{{__typename # {deep_text}\n}}"), json!({})).await);
}

/// Sends an upload's headers and the start of its body, then waits: the answer must come
/// before the rest of the body is sent.
async fn upload_answer_before_body(app: &TestApp, authorization: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 8000000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\":\"mutation{{__typename}}\"}}\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.pdf\"\r\n\r\n",
        app.addr
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b'x'; 64 * 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the server answered before the body was sent")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test]
async fn multipart_parts_are_held_to_the_same_nesting() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let q = "mutation($f:Upload!,$v:[Int]){__typename}";
    for depth in DEPTHS {
        let operations = format!(r#"{{"query":"{q}","variables":{{"f":null,"v":{}}}}}"#, lists(depth));
        // A map path as deep as the nesting, into the variables.
        let path = format!("variables.v{}", ".0".repeat(depth));
        let form = reqwest::multipart::Form::new()
            .text("operations", operations)
            .text("map", json!({"0": [path]}).to_string())
            .part("0", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.pdf"));
        let resp = app.client.post(app.url("/graphql")).bearer_auth(&t).multipart(form).send().await.unwrap();
        let status = resp.status().as_u16();
        let r: Value = resp.json().await.unwrap_or(Value::Null);
        let expected = if depth < 128 { (200, "QUERY_LIMIT") } else { (400, "BAD_REQUEST") };
        assert_eq!((status, code(&r).as_str()), expected, "multipart at depth {depth}: {r}");
        assert_up(&app, "multipart").await;
    }
}

#[tokio::test]
async fn an_upload_without_a_valid_session_is_refused_before_its_body_is_read() {
    let app = TestApp::demo().await;
    for authorization in ["Bearer x", &format!("Bearer {}", "a".repeat(64)), "Basic eDp5"] {
        let answer = upload_answer_before_body(&app, authorization).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{authorization}: {answer}");
        assert!(answer.contains("UNAUTHENTICATED"), "{answer}");
    }
    // A valid session is let through to read the body (here: still sending, no answer yet).
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 8000000\r\n\r\n--XYZ\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64];
    assert!(tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await.is_err(), "answered early");
}

#[tokio::test]
async fn the_request_id_is_the_servers_and_a_clients_only_correlates() {
    let app = TestApp::demo().await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "chosen-by-the-client")
        .json(&json!({
            "query": "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}",
            "variables": {"e": "secretariat@demo.entente.fr", "p": crate::helpers::DEMO_PASSWORD}
        }))
        .send()
        .await
        .unwrap();
    let server_id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert_ne!(server_id, "chosen-by-the-client");
    assert!(uuid::Uuid::parse_str(&server_id).is_ok(), "{server_id}");
    let body: Value = resp.json().await.unwrap();
    let t = body["data"]["login"]["token"].as_str().unwrap().to_string();
    let r = app.gql(Some(&t), "{auditEntries(action:\"LOGIN\",first:1){edges{node{requestId}}}}", json!({})).await;
    assert_eq!(ok(&r)["auditEntries"]["edges"][0]["node"]["requestId"], server_id.as_str(), "{r}");
}

#[tokio::test]
async fn rate_limited_answers_429_with_retry_after() {
    let app = TestApp::demo().await;
    for _ in 0..5 {
        app.login("maire.aix@demo.entente.fr", "wrong password!").await.unwrap_err();
    }
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({
            "query": "mutation($e:String!,$p:String!){login(email:$e,password:$p){token}}",
            "variables": {"e": "maire.aix@demo.entente.fr", "p": crate::helpers::DEMO_PASSWORD}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "RATE_LIMITED");
    assert_eq!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64(), Some(retry));
    assert!(retry > 0);
}

#[tokio::test]
async fn the_engines_errors_carry_the_code_of_the_stage_that_made_them() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let cases: [(&str, Value, &str); 10] = [
        ("{commune(inseeCode:", json!({}), "GRAPHQL_PARSE"),
        ("{nosuchfield}", json!({}), "GRAPHQL_VALIDATION"),
        ("{communes(nosucharg:1){totalCount}}", json!({}), "GRAPHQL_VALIDATION"),
        ("query A{__typename} query B{__typename}", json!({}), "GRAPHQL_VALIDATION"),
        ("{communes(first:\"x\"){totalCount}}", json!({}), "VALIDATION"),
        ("query($n:Int){communes(first:$n){totalCount}}", json!({"n": "x"}), "VALIDATION"),
        ("query($n:Int!){communes(first:$n){totalCount}}", json!({}), "VALIDATION"),
        ("query($n:Int){communes(first:$n){totalCount}}", json!({"n": 1.5}), "VALIDATION"),
        (
            "{commune(inseeCode:\"13055\"){memberships{intercommunality{communes(first:2){edges{node{memberships{intercommunality{communes(first:2){edges{node{name}}}}}}}}}}}}",
            json!({}),
            "QUERY_LIMIT",
        ),
        (
            "{communes(first:100){edges{node{memberships{intercommunality{communes(first:100){edges{node{name}}}}}}}}}",
            json!({}),
            "QUERY_LIMIT",
        ),
    ];
    for (query, variables, expected) in cases {
        let r = app.gql(Some(&t), query, variables).await;
        assert_eq!(code(&r), expected, "{query}: {r}");
    }
    let r = app.gql(Some(&t), "{communes(first:\"x\"){totalCount}}", json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "first", "{r}");
    let r = app.gql(Some(&t), "query($n:Int!){communes(first:$n){totalCount}}", json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "n", "{r}");
    // Several operations and a name: the named one runs.
    let r = app
        .post_raw(Some(&t), json!({"query": "query A{__typename} query B{me{account{email}}}", "operationName": "B"}))
        .await
        .1;
    assert_eq!(ok(&r)["me"]["account"]["email"], "secretariat@demo.entente.fr");
    let r = app.post_raw(Some(&t), json!({"query": "query A{__typename}", "operationName": "C"})).await.1;
    assert_eq!(code(&r), "GRAPHQL_VALIDATION");
}

#[tokio::test]
async fn graphiql_and_every_asset_it_names_are_served_by_the_server_itself() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            assets.push(piece.split('"').next().unwrap().to_string());
        }
    }
    assert!(assets.len() >= 5, "{html}");
    for a in assets {
        assert!(a.starts_with('/') && !a.starts_with("//"), "not same-origin: {a}");
        let resp = app.client.get(app.url(&a)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{a}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let expected = if a.ends_with(".css") { "text/css" } else { "text/javascript" };
        assert!(ct.starts_with(expected), "{a}: {ct}");
        assert!(!resp.bytes().await.unwrap().is_empty(), "{a}");
    }
    let missing = app.client.get(app.url("/graphiql/nothing.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // Not in production.
    let prod = TestApp::spawn_with(|c| {
        c.production = true;
        c.graphiql = false;
    })
    .await;
    let resp = prod.client.get(prod.url("/graphiql/graphiql.min.js")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

/// graphql-js 16's getIntrospectionQuery(), as IDEs and schema tools send it.
const INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }
  "#;

#[tokio::test]
async fn the_standard_introspection_query_loads_the_schema_in_development_only() {
    let dev = TestApp::spawn().await;
    let r = dev.gql(None, INTROSPECTION_QUERY, json!({})).await;
    let types = ok(&r)["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Meeting"), "{r}");
    // The deeper allowance is for introspection only.
    let deep = "{commune(inseeCode:\"13055\"){memberships{intercommunality{communes(first:2){edges{node{memberships{intercommunality{communes(first:2){edges{node{name}}}}}}}}}}}}";
    assert_eq!(code(&dev.gql(None, deep, json!({})).await), "QUERY_LIMIT");
    let prod = TestApp::spawn_with(|c| {
        c.production = true;
        c.graphiql = false;
    })
    .await;
    let r = prod.gql(None, INTROSPECTION_QUERY, json!({})).await;
    assert!(r["data"].is_null() || r["data"]["__schema"].is_null(), "{r}");
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://app.example.org".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let allowed = preflight("https://app.example.org").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.org");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase().contains("authorization"));
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let real = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://app.example.org")
        .json(&json!({"query": "{__typename}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(real.headers()["access-control-allow-origin"], "https://app.example.org");
    // None by default.
    let plain = TestApp::spawn().await;
    let resp = plain
        .client
        .request(reqwest::Method::OPTIONS, plain.url("/graphql"))
        .header("origin", "https://app.example.org")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

/// Kills the server it holds when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nx-request-id: client-side-42\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn logs_are_plain_text_off_a_terminal_with_one_line_per_request() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_entente"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("logs.db").display()))
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let stderr = server.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("the server starts");
        lines.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim_end_matches("/graphql").trim().to_string();
        }
    };
    assert!(http_get(&addr, "/health").starts_with("HTTP/1.1 200"));
    assert!(http_get(&addr, "/calendar/the-secret-token.ics").starts_with("HTTP/1.1 404"));
    // The lines of the two requests.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
        if lines.iter().filter(|l| l.contains("latency_ms")).count() == 2 {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text}");
    assert!(!text.contains("the-secret-token"), "{text}");
    let requests: Vec<&String> = lines.iter().filter(|l| l.contains("latency_ms")).collect();
    assert_eq!(requests.len(), 2, "{text}");
    for (line, path, status) in
        [(requests[0], "path=/health", "status=200"), (requests[1], "path=/calendar/(secret)", "status=404")]
    {
        for part in ["method=GET", path, status, "request_id=", "correlation_id=client-side-42"] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
        assert!(!line.contains("request_id=client-side-42"), "{line}");
    }
    drop(server);
}
