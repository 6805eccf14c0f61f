//! Text and date inputs (issue 14, defects 2 and 5): a control character in any text, or a
//! date outside the years 2000-2100, is refused with VALIDATION naming the field, the same
//! on SQLite and PostgreSQL, and nothing is written. Through variables, argument literals,
//! nested input objects and lists, and variables' default values.
use serde_json::{json, Value};

use crate::helpers::{code, ok, TestApp};
use crate::mandates::{person, CREATE_MANDATE, CREATE_PERSON};
use crate::referrals::{CREATE as CREATE_REFERRAL, DRAFT, OPEN, SET_FORM, SUBMIT};

const CREATE_BODY: &str = "mutation($i:CreateBodyInput!){createBody(input:$i){id version}}";
const CREATE_TERRITORY: &str = "mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}";
const CREATE_MEETING: &str = "mutation($i:CreateMeetingInput!){createMeeting(input:$i){id version}}";
const UPDATE_MEETING: &str = "mutation($i:UpdateMeetingInput!){updateMeeting(input:$i){id version}}";
const UPDATE_PERSON: &str = "mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}";
const CREATE_REQUEST: &str = "mutation($b:ID!,$a:String!){createMeetingRequest(bodyId:$b,agenda:$a){id}}";
const AUDIT: &str = "query($a:String){auditEntries(action:$a){totalCount}}";
const COMMUNES: &str = "query($d:String){communes(departement:$d){totalCount}}";
const END_MANDATE: &str = "mutation($i:EndMandateInput!){endMandate(input:$i){id}}";
const ADD_SEAT: &str = "mutation($i:AddSeatInput!){addBodySeat(input:$i){id}}";
const END_SEAT: &str = "mutation($id:ID!,$e:NaiveDate!){endBodySeat(id:$id,expectedVersion:1,endDate:$e){id}}";
const SECOND: &str =
    "mutation($m:ID!,$s:NaiveDateTime!,$e:NaiveDateTime!){secondConvocation(meetingId:$m,startsAt:$s,endsAt:$e){id}}";
const UPDATE_REFERRAL: &str =
    "mutation($id:ID!,$v:Int!,$i:ReferralInput!){updateReferral(id:$id,expectedVersion:$v,input:$i){id version}}";
const EXTEND: &str = "mutation($id:ID!,$v:Int!,$d:NaiveDate!){extendReferralDeadline(id:$id,expectedVersion:$v,deadlineDate:$d,reason:\"Demande des maires\"){id}}";
const MEMBERS: &str = "query($b:ID!,$d:NaiveDate){node(id:$b){...on Body{members(on:$d){role}}}}";
const VACANT: &str = "query($b:ID!,$d:NaiveDate){node(id:$b){...on Body{vacantSeats(on:$d){role}}}}";

fn day(offset: i64) -> String {
    (entente::time::today_paris() + chrono::Duration::days(offset)).to_string()
}

/// A Paris wall-clock time `days` from today at `hour`:00.
fn paris_time(days: i64, hour: u32) -> String {
    format!("{}T{hour:02}:00:00", day(days))
}

/// Sets the value at `pointer` (a JSON pointer into the variables) to `v`.
fn with(vars: &Value, pointer: &str, v: &str) -> Value {
    let mut vars = vars.clone();
    match vars.pointer_mut(pointer) {
        Some(slot) => *slot = json!(v),
        None => panic!("no {pointer} in the variables"),
    }
    vars
}

/// Asserts VALIDATION on `field`, and that no data came back.
#[track_caller]
fn assert_refused(r: &Value, field: &str, what: &str) {
    assert_eq!(code(r), "VALIDATION", "{what}: {r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], json!(field), "{what}: {r}");
    let no_data = r["data"].is_null() || r["data"].as_object().is_some_and(|o| o.values().all(Value::is_null));
    assert!(no_data, "{what}: {r}");
}

/// The demo with the admin's token and a few records to aim at.
struct Given {
    app: TestApp,
    admin: String,
    mayor: String,
    amp: String,
    marseille: String,
}

async fn given() -> Given {
    let app = TestApp::demo().await;
    let admin = app.login_as("admin@demo.entente.fr").await;
    let mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let amp = app.epci_id(&admin, "200054807").await;
    let marseille = app.commune_id(&admin, "13055").await;
    Given { app, admin, mayor, amp, marseille }
}

impl Given {
    async fn run(&self, token: &str, query: &str, vars: Value) -> Value {
        self.app.gql(Some(token), query, vars).await
    }
    async fn admin(&self, query: &str, vars: Value) -> Value {
        let r = self.run(&self.admin, query, vars).await;
        ok(&r).clone()
    }
    async fn body(&self, kind: &str, name: &str) -> String {
        let mut i = json!({"intercommunalityId": self.amp, "kind": kind, "name": name});
        if kind == "WORKING_GROUP" {
            i["theme"] = json!("Mobilités");
        }
        self.admin(CREATE_BODY, json!({ "i": i })).await["createBody"]["id"].as_str().unwrap().to_string()
    }
    /// A draft free consultation (or data collection) of AMP: (id, version).
    async fn referral(&self, procedure: &str, title: &str) -> (String, i64) {
        let i = json!({"title": title, "silence": "NO_RESPONSE", "deadlineDate": day(30)});
        let d = self.admin(CREATE_REFERRAL, json!({"e": self.amp, "p": procedure, "i": i})).await;
        (d["createReferral"]["id"].as_str().unwrap().to_string(), d["createReferral"]["version"].as_i64().unwrap())
    }
    async fn open(&self, id: &str, v: i64) -> i64 {
        self.admin(OPEN, json!({"id": id, "v": v})).await["openReferral"]["version"].as_i64().unwrap()
    }
}

/// One text input: who sends it, the operation, valid variables, where the text goes
/// and the field the refusal names.
struct TextCase {
    token: String,
    query: &'static str,
    vars: Value,
    pointer: &'static str,
    field: &'static str,
}

#[tokio::test]
async fn control_characters_are_refused_in_every_text_input() {
    let g = given().await;
    let p = person(&g.app, &g.admin, "Jeanne", "Martin").await;
    let conference = g.body("CONFERENCE_OF_MAYORS", "Conférence des maires (textes)").await;
    let (referral, v) = g.referral("FREE_CONSULTATION", "Consultation (textes)").await;
    g.open(&referral, v).await;
    let admin = || g.admin.clone();
    let cases = vec![
        TextCase {
            token: admin(),
            query: CREATE_PERSON,
            vars: json!({"i": {"givenName": "Nouvelle", "familyName": "Personne"}}),
            pointer: "/i/givenName",
            field: "givenName",
        },
        TextCase {
            token: admin(),
            query: UPDATE_PERSON,
            vars: json!({"i": {"id": p, "expectedVersion": 1, "familyName": "Martin-Durand"}}),
            pointer: "/i/familyName",
            field: "familyName",
        },
        TextCase {
            token: admin(),
            query: CREATE_BODY,
            vars: json!({"i": {"intercommunalityId": g.amp, "kind": "WORKING_GROUP", "name": "Groupe habitat", "theme": "Habitat"}}),
            pointer: "/i/theme",
            field: "theme",
        },
        TextCase {
            token: admin(),
            query: CREATE_TERRITORY,
            vars: json!({"i": {"intercommunalityId": g.amp, "name": "Territoire du test"}}),
            pointer: "/i/name",
            field: "name",
        },
        TextCase {
            token: admin(),
            query: CREATE_MEETING,
            vars: json!({"i": {"bodyId": conference, "title": "Séance plénière", "startsAt": paris_time(40, 10), "endsAt": paris_time(40, 12), "venue": "Hôtel de la Métropole"}}),
            pointer: "/i/title",
            field: "title",
        },
        TextCase {
            token: admin(),
            query: CREATE_REFERRAL,
            vars: json!({"e": g.amp, "p": "FREE_CONSULTATION", "i": {"title": "Consultation", "description": "Première ligne.\nSeconde ligne.\r\n\tEt une tabulation.", "silence": "NO_RESPONSE", "deadlineDate": day(30)}}),
            pointer: "/i/description",
            field: "description",
        },
        TextCase {
            token: admin(),
            query: CREATE_MANDATE,
            vars: json!({"i": {"personId": p, "organisationId": g.marseille, "role": "MUNICIPAL_COUNCILLOR", "delegation": "Mobilités", "startDate": "2026-03-28"}}),
            pointer: "/i/delegation",
            field: "delegation",
        },
        TextCase {
            token: g.mayor.clone(),
            query: CREATE_REQUEST,
            vars: json!({"b": conference, "a": "Plan climat"}),
            pointer: "/a",
            field: "agenda",
        },
        TextCase {
            token: g.mayor.clone(),
            query: DRAFT,
            vars: json!({"i": {"referralId": referral, "communeId": g.marseille, "expectedVersion": 1, "opinion": "FAVOURABLE", "reasons": "Avis favorable.\nSous deux réserves :\n\t- la première ;\r\n\t- la seconde."}}),
            pointer: "/i/reasons",
            field: "reasons",
        },
        TextCase { token: admin(), query: AUDIT, vars: json!({"a": "createPerson"}), pointer: "/a", field: "action" },
        TextCase { token: admin(), query: COMMUNES, vars: json!({"d": "13"}), pointer: "/d", field: "departement" },
    ];

    let before = g.app.audit_count().await;
    for c in &cases {
        for bad in ["Mauvais\u{0}texte", "Mauvais\u{1b}[31mtexte", "\u{85}", "fin\u{7f}"] {
            let r = g.run(&c.token, c.query, with(&c.vars, c.pointer, bad)).await;
            assert_refused(&r, c.field, &format!("{} with {bad:?}", c.query));
        }
    }
    // In argument literals, nested lists and variables' default values too.
    let literal = "mutation{createPerson(input:{givenName:\"Jeanne\\u0000\",familyName:\"Martin\"}){id}}";
    assert_refused(&g.run(&g.admin, literal, json!({})).await, "givenName", "literal");
    let nested = format!(
        "mutation{{createTerritory(input:{{intercommunalityId:\"{}\",name:\"T\",communeIds:[\"{}\",\"x\\u001b\"]}}){{id}}}}",
        g.amp, g.marseille
    );
    assert_refused(&g.run(&g.admin, &nested, json!({})).await, "communeIds", "list literal");
    let default = "mutation($i:CreateTerritoryInput!={intercommunalityId:\"x\",name:\"T\\u0001\"}){createTerritory(input:$i){id}}";
    assert_refused(&g.run(&g.admin, default, json!({})).await, "name", "default value");
    let default_arg = "query($a:String=\"\\u0000\"){auditEntries(action:$a){totalCount}}";
    assert_refused(&g.run(&g.admin, default_arg, json!({})).await, "action", "default value of a variable");
    assert_refused(
        &g.run(&g.admin, "{communes(departement:\"1\\u00003\"){totalCount}}", json!({})).await,
        "departement",
        "filter literal",
    );
    assert_eq!(g.app.audit_count().await, before, "a refused text wrote nothing");

    // The same inputs without the control characters pass (newlines and tabs included),
    // and the refusals above left the records as they were (the update's version is 1).
    for c in &cases {
        ok(&g.run(&c.token, c.query, c.vars.clone()).await);
    }
    // Nine mutations, one entry each but createMeetingRequest's two (the request and its
    // first signature); the two queries write none.
    assert_eq!(g.app.audit_count().await, before + 10);
}

/// One date input: the operation, variables with a valid date at `pointer`, the field,
/// and whether the valid variables succeed (false: the operation then fails for another
/// reason, never on this field).
struct DateCase {
    token: String,
    query: &'static str,
    vars: Value,
    pointer: &'static str,
    field: &'static str,
    time: bool,
    succeeds: bool,
}

#[tokio::test]
async fn dates_outside_2000_to_2100_are_refused_in_every_date_input() {
    let g = given().await;
    let admin = || g.admin.clone();
    let p = person(&g.app, &g.admin, "Paul", "Date").await;
    let q = person(&g.app, &g.admin, "Pauline", "Date").await;
    let conference = g.body("CONFERENCE_OF_MAYORS", "Conférence des maires (dates)").await;
    let group = g.body("WORKING_GROUP", "Groupe de travail (dates)").await;
    let mandate = {
        let i = json!({"personId": q, "organisationId": g.marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-03-28"});
        g.admin(CREATE_MANDATE, json!({ "i": i })).await["createMandate"]["id"].as_str().unwrap().to_string()
    };
    let seat = {
        let i = json!({"bodyId": group, "mandateId": mandate, "role": "MEMBER", "startDate": day(0)});
        g.admin(ADD_SEAT, json!({ "i": i })).await["addBodySeat"]["id"].as_str().unwrap().to_string()
    };
    let meeting = {
        let i = json!({"bodyId": conference, "title": "Séance", "startsAt": paris_time(40, 10), "endsAt": paris_time(40, 12)});
        g.admin(CREATE_MEETING, json!({ "i": i })).await["createMeeting"]["id"].as_str().unwrap().to_string()
    };
    let (draft, draft_v) = g.referral("FREE_CONSULTATION", "Consultation (brouillon)").await;
    let (to_open, to_open_v) = g.referral("FREE_CONSULTATION", "Consultation (à ouvrir)").await;
    let (opened, opened_v) = g.referral("FREE_CONSULTATION", "Consultation (ouverte)").await;
    let opened_v = g.open(&opened, opened_v).await;
    let (answered, answered_v) = g.referral("FREE_CONSULTATION", "Consultation (réponse)").await;
    g.open(&answered, answered_v).await;
    let (collected, _) = g.referral("DATA_COLLECTION", "Recueil (dates)").await;
    let form = json!([{"key": "since", "label": "En service depuis", "type": "DATE"}]);
    let collected_v =
        g.admin(SET_FORM, json!({"id": collected, "f": form})).await["setReferralForm"]["version"].as_i64().unwrap();
    g.open(&collected, collected_v).await;

    let case =
        |token: &String,
         query: &'static str,
         vars: Value,
         pointer: &'static str,
         field: &'static str,
         time: bool,
         succeeds: bool| DateCase { token: token.clone(), query, vars, pointer, field, time, succeeds };
    let mandate_input = json!({"i": {"personId": p, "organisationId": g.marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-03-28", "endDate": "2032-03-28"}});
    let meeting_input = json!({"i": {"bodyId": conference, "title": "Séance", "startsAt": paris_time(41, 10), "endsAt": paris_time(41, 12)}});
    let response = |referral: &str| json!({"i": {"referralId": referral, "communeId": g.marseille, "expectedVersion": 1, "opinion": "FAVOURABLE", "deliberationNumber": "2026-42", "deliberationDate": day(0)}});
    let cases = vec![
        case(&admin(), CREATE_MANDATE, mandate_input.clone(), "/i/startDate", "startDate", false, true),
        case(&admin(), CREATE_MANDATE, mandate_input, "/i/endDate", "endDate", false, false),
        // The mandate already has its seat in the group: the valid date meets a conflict.
        case(
            &admin(),
            ADD_SEAT,
            json!({"i": {"bodyId": group, "mandateId": mandate, "role": "MEMBER", "startDate": day(0)}}),
            "/i/startDate",
            "startDate",
            false,
            false,
        ),
        case(&admin(), END_SEAT, json!({"id": seat, "e": day(30)}), "/e", "endDate", false, true),
        case(
            &admin(),
            END_MANDATE,
            json!({"i": {"id": mandate, "expectedVersion": 1, "endDate": day(60)}}),
            "/i/endDate",
            "endDate",
            false,
            true,
        ),
        case(&admin(), MEMBERS, json!({"b": group, "d": day(0)}), "/d", "on", false, true),
        case(&admin(), VACANT, json!({"b": conference, "d": day(0)}), "/d", "on", false, true),
        // The second run of a case repeats the first one's write: not asserted to succeed.
        case(&admin(), CREATE_MEETING, meeting_input.clone(), "/i/startsAt", "startsAt", true, true),
        case(&admin(), CREATE_MEETING, meeting_input, "/i/endsAt", "endsAt", true, false),
        case(
            &admin(),
            UPDATE_MEETING,
            json!({"i": {"id": meeting, "expectedVersion": 1, "startsAt": paris_time(42, 10), "endsAt": paris_time(42, 12)}}),
            "/i/startsAt",
            "startsAt",
            true,
            true,
        ),
        case(
            &admin(),
            UPDATE_MEETING,
            json!({"i": {"id": meeting, "expectedVersion": 1, "startsAt": paris_time(42, 10), "endsAt": paris_time(42, 12)}}),
            "/i/endsAt",
            "endsAt",
            true,
            false,
        ),
        // A draft meeting has no second convocation: the valid times fail on its state.
        case(
            &admin(),
            SECOND,
            json!({"m": meeting, "s": paris_time(50, 10), "e": paris_time(50, 12)}),
            "/s",
            "startsAt",
            true,
            false,
        ),
        case(
            &admin(),
            SECOND,
            json!({"m": meeting, "s": paris_time(50, 10), "e": paris_time(50, 12)}),
            "/e",
            "endsAt",
            true,
            false,
        ),
        case(
            &admin(),
            CREATE_REFERRAL,
            json!({"e": g.amp, "p": "FREE_CONSULTATION", "i": {"title": "Consultation datée", "silence": "NO_RESPONSE", "deadlineDate": day(30)}}),
            "/i/deadlineDate",
            "deadlineDate",
            false,
            true,
        ),
        case(
            &admin(),
            UPDATE_REFERRAL,
            json!({"id": draft, "v": draft_v, "i": {"title": "Renommée", "silence": "NO_RESPONSE", "deadlineDate": day(40)}}),
            "/i/deadlineDate",
            "deadlineDate",
            false,
            true,
        ),
        case(&admin(), OPEN, json!({"id": to_open, "v": to_open_v, "c": day(0)}), "/c", "clockStartsOn", false, true),
        case(&admin(), EXTEND, json!({"id": opened, "v": opened_v, "d": day(60)}), "/d", "deadlineDate", false, true),
        case(&g.mayor, DRAFT, response(&answered), "/i/deliberationDate", "deliberationDate", false, true),
        case(&g.mayor, SUBMIT, response(&answered), "/i/deliberationDate", "deliberationDate", false, false),
        // A form's DATE answer is a date input too (checked by the form's rules).
        case(
            &g.mayor,
            DRAFT,
            json!({"i": {"referralId": collected, "communeId": g.marseille, "expectedVersion": 1, "answers": {"since": day(-10)}}}),
            "/i/answers/since",
            "answers.since",
            false,
            true,
        ),
    ];

    let before = g.app.audit_count().await;
    for c in &cases {
        let bad: [&str; 3] = if c.time {
            ["-262143-01-01T10:00:00", "1999-12-31T10:00:00", "2101-01-01T10:00:00"]
        } else {
            ["-262143-01-01", "1999-12-31", "2101-01-01"]
        };
        for b in bad {
            let r = g.run(&c.token, c.query, with(&c.vars, c.pointer, b)).await;
            assert_refused(&r, c.field, &format!("{} with {} = {b}", c.query, c.pointer));
        }
    }
    // Argument literals too.
    let literal = format!(
        "mutation{{openReferral(id:\"{to_open}\",expectedVersion:{to_open_v},clockStartsOn:\"-262143-01-01\"){{id}}}}"
    );
    assert_refused(&g.run(&g.admin, &literal, json!({})).await, "clockStartsOn", "literal");
    let literal = format!("{{node(id:\"{group}\"){{...on Body{{members(on:\"2101-01-01\"){{role}}}}}}}}");
    assert_refused(&g.run(&g.admin, &literal, json!({})).await, "on", "literal in a nested field");
    assert_eq!(g.app.audit_count().await, before, "a refused date wrote nothing");

    // In range, the same inputs are not refused on that field; most succeed.
    for c in &cases {
        let r = g.run(&c.token, c.query, c.vars.clone()).await;
        if c.succeeds {
            ok(&r);
        } else {
            let e = &r["errors"][0];
            let on_field = e["extensions"]["code"] == "VALIDATION" && e["extensions"]["field"] == json!(c.field);
            assert!(!on_field, "{} with a valid {}: {r}", c.query, c.field);
        }
    }
}

/// A GraphQL multipart request uploading `content` as `variables.file`, named `name`.
async fn upload(app: &TestApp, token: &str, query: &str, variables: Value, name: &[u8]) -> Value {
    let boundary = "entente-input-boundary-51c2";
    let operations = json!({ "query": query, "variables": variables }).to_string();
    let mut body = Vec::new();
    let mut part = |headers: &[u8], data: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(headers);
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    };
    part(b"Content-Disposition: form-data; name=\"operations\"", operations.as_bytes());
    part(b"Content-Disposition: form-data; name=\"map\"", br#"{"0":["variables.file"]}"#);
    let mut headers = b"Content-Disposition: form-data; name=\"0\"; filename=\"".to_vec();
    headers.extend_from_slice(name);
    headers.extend_from_slice(b"\"\r\nContent-Type: application/pdf");
    part(&headers, b"%PDF-1.4 ordre du jour");
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("request");
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_file_name_with_a_control_character_is_refused() {
    let g = given().await;
    let conference = g.body("CONFERENCE_OF_MAYORS", "Conférence des maires (fichiers)").await;
    let i =
        json!({"bodyId": conference, "title": "Séance", "startsAt": paris_time(40, 10), "endsAt": paris_time(40, 12)});
    let meeting = g.admin(CREATE_MEETING, json!({ "i": i })).await["createMeeting"]["id"].as_str().unwrap().to_string();
    let q = "mutation($m:ID!,$file:Upload!){uploadDocument(meetingId:$m,file:$file){id}}";
    let vars = json!({"m": meeting, "file": null});
    let before = g.app.audit_count().await;
    // C0 characters are refused by the multipart parser itself (BAD_REQUEST); C1 ones
    // (here CSI, a terminal escape, and NEL) reach the service.
    for name in ["ordre\u{9b}31mdu-jour.pdf", "ordre\u{85}du-jour.pdf"] {
        let r = upload(&g.app, &g.admin, q, vars.clone(), name.as_bytes()).await;
        assert_refused(&r, "file", &format!("the file name {name:?}"));
    }
    assert_eq!(g.app.audit_count().await, before);
    ok(&upload(&g.app, &g.admin, q, vars, "ordre du jour.pdf".as_bytes()).await);
}
