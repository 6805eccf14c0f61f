//! The permission matrix: every mutation as every role, allowed or refused, and a refusal
//! changes nothing. A mutation added to the schema without a row here fails the test.
use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{code, fixture, ok, TestApp};
use crate::mandates::{person, CREATE_MANDATE};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Anonymous,
    Admin,
    SecretariatAmp,
    SecretariatOther,
    President,
    MayorMarseille,
    DgsMarseille,
    MayorCassis,
}
use Role::*;

const ROLES: [Role; 8] =
    [Anonymous, Admin, SecretariatAmp, SecretariatOther, President, MayorMarseille, DgsMarseille, MayorCassis];

fn email(r: Role) -> Option<&'static str> {
    Some(match r {
        Anonymous => return None,
        Admin => "admin@demo.entente.fr",
        SecretariatAmp => "secretariat@demo.entente.fr",
        SecretariatOther => "sg@faucigny-glieres.fr",
        President => "president@demo.entente.fr",
        MayorMarseille => "maire.marseille@demo.entente.fr",
        DgsMarseille => "dgs.marseille@demo.entente.fr",
        MayorCassis => "maire.cassis@demo.entente.fr",
    })
}

/// A current mayor: their person and mandate IDs.
struct Mayor {
    person: String,
    mandate: String,
}

/// A draft (or later) meeting prepared by the admin: its ID, its version and its one
/// VOTE agenda item (with an explanatory note, as the conference requires).
struct Prepared {
    id: String,
    version: i64,
    item: String,
}

struct World {
    app: TestApp,
    admin: String,
    sec_amp: String,
    /// Aix's mayor, who opens the mayors' requests others sign.
    mayor_aix: String,
    /// Marseille's mayor, who writes the contributions to policies that others co-sign,
    /// withdraw or answer.
    mayor_marseille: String,
    marseille: String,
    amp: String,
    martigues: String,
    mayor_of_marseille: Mayor,
    mayor_of_cassis: Mayor,
    /// The DGS of Marseille's person ID.
    dgs_marseille: String,
    seq: std::sync::atomic::AtomicU32,
}

const CREATE_BODY: &str = "mutation($i:CreateBodyInput!){createBody(input:$i){id version}}";
const ADD_SEAT: &str = "mutation($i:AddSeatInput!){addBodySeat(input:$i){id version}}";
const CREATE_MEETING: &str = "mutation($i:CreateMeetingInput!){createMeeting(input:$i){id version}}";
const ADD_ITEM: &str = "mutation($i:AddAgendaItemInput!){addAgendaItem(input:$i){id}}";
const CONVENE: &str = "mutation($id:ID!,$v:Int!){conveneMeeting(id:$id,expectedVersion:$v){id version}}";
const TRANSITION: &str = "mutation($i:TransitionMeetingInput!){transitionMeeting(input:$i){id version}}";
const RECORD_ATTENDANCE: &str = "mutation($m:ID!,$rows:[AttendanceInput!]!){recordAttendance(meetingId:$m,rows:$rows)}";
const GIVE_PROXY: &str = "mutation($i:GiveProxyInput!){giveProxy(input:$i){id}}";
const CREATE_REQUEST: &str = "mutation($b:ID!,$a:String!){createMeetingRequest(bodyId:$b,agenda:$a){id}}";
const ACKNOWLEDGE: &str = "mutation($m:ID!){acknowledgeConvocation(meetingId:$m){readAt}}";
const UPLOAD: &str =
    "mutation($m:ID!,$i:ID,$file:Upload!){uploadDocument(meetingId:$m,agendaItemId:$i,file:$file){id sha256}}";

/// A Paris wall-clock time `days` from today, at `hour`:00 (far enough for any notice).
fn paris_time(days: i64, hour: u32) -> String {
    let day = entente::time::today_paris() + chrono::Duration::days(days);
    day.and_hms_opt(hour, 0, 0).unwrap().format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn today() -> String {
    entente::time::today_paris().to_string()
}

impl World {
    /// A fresh policy of AMP led by its president (the lead official), with `sections`
    /// top-level sections; returns (policy, sections).
    async fn policy(&self, sections: usize) -> (String, Vec<String>) {
        let lead = self.as_admin("{intercommunality(siren:\"200054807\"){president{id}}}", json!({})).await;
        let p = self
            .as_admin(
                "mutation($i:CreatePolicyInput!){createPolicy(input:$i){id}}",
                json!({"i": {"intercommunalityId": self.amp, "kind": "FRAMEWORK_POLICY", "title": format!("Politique {}", self.next()), "leadMandateId": lead["intercommunality"]["president"]["id"]}}),
            )
            .await["createPolicy"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut ids = Vec::new();
        for i in 0..sections {
            let s = self
                .as_admin(
                    "mutation($i:AddPolicySectionInput!){addPolicySection(input:$i){id}}",
                    json!({"i": {"policyId": p, "title": format!("Article {i}")}}),
                )
                .await;
            ids.push(s["addPolicySection"]["id"].as_str().unwrap().to_string());
        }
        (p, ids)
    }
    /// A fresh policy in concertation (version 1 published, 30 days to go); returns
    /// (policy, its section).
    async fn policy_in_concertation(&self) -> (String, String) {
        let (p, s) = self.policy(1).await;
        self.as_admin("mutation($p:ID!){publishPolicyVersion(policyId:$p,changeNote:\"V1\"){id}}", json!({"p": p}))
            .await;
        let closes = paris_time(30, 18);
        self.as_admin(
            "mutation($i:TransitionPolicyInput!){transitionPolicy(input:$i){id}}",
            json!({"i": {"id": p, "expectedVersion": 2, "to": "OPEN_CONCERTATION", "concertationClosesAt": closes}}),
        )
        .await;
        (p, s[0].clone())
    }
    /// A contribution of Marseille (by its mayor) to a fresh policy in concertation.
    async fn contribution(&self) -> String {
        let (p, _) = self.policy_in_concertation().await;
        let r = self
            .app
            .gql(
                Some(&self.mayor_marseille),
                "mutation($i:ContributeInput!){contributeToPolicy(input:$i){id}}",
                json!({"i": {"policyId": p, "kind": "QUESTION", "communeId": self.marseille, "body": "Quel calendrier ?"}}),
            )
            .await;
        ok(&r)["contributeToPolicy"]["id"].as_str().unwrap().to_string()
    }
    fn next(&self) -> u32 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
    /// Runs an operation as the admin and returns its data (panics on errors).
    async fn as_admin(&self, query: &str, variables: Value) -> Value {
        ok(&self.app.gql(Some(&self.admin), query, variables).await).clone()
    }
    /// A fresh person holding a current councillor mandate in Marseille; returns (person, mandate).
    async fn marseille_councillor(&self) -> (String, Value) {
        let p = person(&self.app, &self.admin, "Conseiller", &format!("Marseillais {}", self.next())).await;
        let m = self
            .app
            .gql(Some(&self.admin), CREATE_MANDATE, json!({"i": {"personId": p, "organisationId": self.marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-03-28"}}))
            .await;
        (p, ok(&m)["createMandate"].clone())
    }
    async fn territory(&self) -> String {
        let r = self
            .app
            .gql(
                Some(&self.admin),
                "mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}",
                json!({"i": {"intercommunalityId": self.amp, "name": format!("T{}", self.next())}}),
            )
            .await;
        ok(&r)["createTerritory"]["id"].as_str().unwrap().to_string()
    }
    /// A fresh conference of mayors of AMP (its seats follow the mayors' mandates).
    async fn conference(&self) -> String {
        let d = self
            .as_admin(CREATE_BODY, json!({"i": {"intercommunalityId": self.amp, "kind": "CONFERENCE_OF_MAYORS", "name": format!("Conférence métropolitaine des maires {}", self.next())}}))
            .await;
        d["createBody"]["id"].as_str().unwrap().to_string()
    }
    /// A fresh working group of AMP, without members.
    async fn empty_working_group(&self) -> String {
        let d = self
            .as_admin(CREATE_BODY, json!({"i": {"intercommunalityId": self.amp, "kind": "WORKING_GROUP", "name": format!("Groupe de travail {}", self.next()), "theme": "Mobilités"}}))
            .await;
        d["createBody"]["id"].as_str().unwrap().to_string()
    }
    /// A fresh working group whose two members are the mayors of Marseille and Cassis.
    async fn working_group(&self) -> String {
        let b = self.empty_working_group().await;
        for m in [&self.mayor_of_marseille, &self.mayor_of_cassis] {
            self.seat(&b, &m.mandate, "MEMBER").await;
        }
        b
    }
    /// Gives the holder of `mandate` a seat in `body` from today; returns the seat's ID.
    async fn seat(&self, body: &str, mandate: &str, role: &str) -> String {
        let d = self
            .as_admin(
                ADD_SEAT,
                json!({"i": {"bodyId": body, "mandateId": mandate, "role": role, "startDate": today()}}),
            )
            .await;
        d["addBodySeat"]["id"].as_str().unwrap().to_string()
    }
    /// A draft meeting of `body` 40 days ahead with one VOTE item.
    async fn draft(&self, body: &str) -> Prepared {
        let d = self
            .as_admin(CREATE_MEETING, json!({"i": {"bodyId": body, "title": format!("Séance {}", self.next()), "startsAt": paris_time(40, 10), "endsAt": paris_time(40, 12), "venue": "Hôtel de la Métropole"}}))
            .await;
        let id = d["createMeeting"]["id"].as_str().unwrap().to_string();
        let version = d["createMeeting"]["version"].as_i64().unwrap();
        let d = self
            .as_admin(ADD_ITEM, json!({"i": {"meetingId": id, "kind": "VOTE", "title": "Schéma des mobilités", "note": "Note explicative de synthèse."}}))
            .await;
        Prepared { id, version, item: d["addAgendaItem"]["id"].as_str().unwrap().to_string() }
    }
    /// A convened meeting of `body`.
    async fn convened(&self, body: &str) -> Prepared {
        let m = self.draft(body).await;
        let d = self.as_admin(CONVENE, json!({"id": m.id, "v": m.version})).await;
        Prepared { version: d["conveneMeeting"]["version"].as_i64().unwrap(), ..m }
    }
    /// A convened meeting of `body`, then held.
    async fn held(&self, body: &str) -> Prepared {
        let m = self.convened(body).await;
        crate::meetings::has_begun(&self.app, &m.id).await;
        let d =
            self.as_admin(TRANSITION, json!({"i": {"id": m.id, "expectedVersion": m.version, "status": "HELD"}})).await;
        Prepared { version: d["transitionMeeting"]["version"].as_i64().unwrap(), ..m }
    }
    /// A draft referral of AMP prepared by the admin: (id, version).
    async fn draft_referral(&self, procedure: &str) -> (String, i64) {
        let deadline = (entente::time::today_paris() + chrono::Duration::days(30)).to_string();
        let input =
            json!({"title": format!("Saisine {}", self.next()), "silence": "NO_RESPONSE", "deadlineDate": deadline});
        let d = self.as_admin(crate::referrals::CREATE, json!({"e": self.amp, "p": procedure, "i": input})).await;
        (d["createReferral"]["id"].as_str().unwrap().to_string(), d["createReferral"]["version"].as_i64().unwrap())
    }
    /// An open referral of AMP (a free consultation, or a data collection with a form).
    async fn open_referral(&self, procedure: &str) -> (String, i64) {
        let (id, v) = self.draft_referral(procedure).await;
        if procedure == "DATA_COLLECTION" {
            let f = json!([{"key": "report", "label": "Rapport", "type": "FILE"}]);
            self.as_admin(crate::referrals::SET_FORM, json!({"id": id, "f": f})).await;
        }
        let d = self.as_admin(crate::referrals::OPEN, json!({"id": id, "v": v})).await;
        (id, d["openReferral"]["version"].as_i64().unwrap())
    }
    /// The proxy Marseille's mayor gives Cassis's mayor for a convened meeting of `body`.
    fn proxy_input(&self, meeting: &str) -> Value {
        json!({"i": {"meetingId": meeting, "giverId": self.mayor_of_marseille.person, "holderId": self.mayor_of_cassis.person}})
    }
}

/// Prepares one attempt of a matrix row (as admin) and returns its query and variables.
/// A row is a mutation's name, or `name:situation` when one mutation is tried in
/// several situations (the schema field is the part before the colon).
async fn attempt(w: &World, row: &str) -> (String, Value) {
    let q = |s: &str| s.to_string();
    match row {
        "createPerson" => (
            q("mutation($i:CreatePersonInput!){createPerson(input:$i){id}}"),
            json!({"i": {"givenName": "Nouvelle", "familyName": format!("Personne {}", w.next())}}),
        ),
        "updatePerson" => {
            let (p, _) = w.marseille_councillor().await;
            (
                q("mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}"),
                json!({"i": {"id": p, "expectedVersion": 1, "givenName": "Renommée"}}),
            )
        }
        "createMandate" => {
            // A person the AMP secretariat recorded, who holds no mandate yet.
            let p = person(&w.app, &w.sec_amp, "Futur", &format!("Conseiller {}", w.next())).await;
            (
                q(CREATE_MANDATE),
                json!({"i": {"personId": p, "organisationId": w.marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-04-01"}}),
            )
        }
        "endMandate" => {
            let (_, m) = w.marseille_councillor().await;
            (
                q("mutation($i:EndMandateInput!){endMandate(input:$i){id}}"),
                json!({"i": {"id": m["id"], "expectedVersion": 1, "endDate": "2026-06-01"}}),
            )
        }
        "createTerritory" => (
            q("mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id}}"),
            json!({"i": {"intercommunalityId": w.amp, "name": format!("Territoire {}", w.next()), "communeIds": [w.martigues]}}),
        ),
        "updateTerritory" => {
            let t = w.territory().await;
            (
                q("mutation($i:UpdateTerritoryInput!){updateTerritory(input:$i){id}}"),
                json!({"i": {"id": t, "expectedVersion": 1, "name": format!("Renommé {}", w.next()), "communeIds": []}}),
            )
        }
        "deleteTerritory" => {
            let t = w.territory().await;
            (q("mutation($id:ID!){deleteTerritory(id:$id,expectedVersion:1)}"), json!({"id": t}))
        }
        "inviteAccount" => {
            let (p, _) = w.marseille_councillor().await;
            (
                q(INVITE),
                json!({"i": {"personId": p, "email": format!("invite{}@marseille.fr", w.next()), "role": "MEMBER"}}),
            )
        }
        "inviteAccount:secretariat" => {
            let (p, _) = w.marseille_councillor().await;
            (
                q(INVITE),
                json!({"i": {"personId": p, "email": format!("sec{}@amp.fr", w.next()), "role": "SECRETARIAT", "intercommunalityId": w.amp}}),
            )
        }
        "auditEntries" => (q("query($e:ID){auditEntries(intercommunalityId:$e){totalCount}}"), json!({"e": w.amp})),

        // ---- bodies ----
        "createBody" => (
            q(CREATE_BODY),
            json!({"i": {"intercommunalityId": w.amp, "kind": "WORKING_GROUP", "name": format!("Groupe {}", w.next()), "theme": "Habitat"}}),
        ),
        "updateBodyRules" => {
            let b = w.empty_working_group().await;
            (
                q("mutation($i:UpdateBodyRulesInput!){updateBodyRules(input:$i){id}}"),
                json!({"i": {"id": b, "expectedVersion": 1, "noticeClearDays": 7, "legalSource": "Règlement intérieur, art. 4"}}),
            )
        }
        // A mayor designates a councillor of their commune (Marseille).
        "addBodySeat" => {
            let b = w.empty_working_group().await;
            let (_, m) = w.marseille_councillor().await;
            (q(ADD_SEAT), json!({"i": {"bodyId": b, "mandateId": m["id"], "role": "MEMBER", "startDate": today()}}))
        }
        // Marseille's mayor as a member: an appointment, which only the secretariat makes.
        "addBodySeat:appointment" => {
            let b = w.empty_working_group().await;
            (
                q(ADD_SEAT),
                json!({"i": {"bodyId": b, "mandateId": w.mayor_of_marseille.mandate, "role": "MEMBER", "startDate": today()}}),
            )
        }
        "endBodySeat" | "endBodySeat:appointment" => {
            let b = w.empty_working_group().await;
            let mandate = match row {
                "endBodySeat" => w.marseille_councillor().await.1["id"].as_str().unwrap().to_string(),
                _ => w.mayor_of_marseille.mandate.clone(),
            };
            let s = w.seat(&b, &mandate, "MEMBER").await;
            let end = (entente::time::today_paris() + chrono::Duration::days(30)).to_string();
            (
                q("mutation($id:ID!,$e:NaiveDate!){endBodySeat(id:$id,expectedVersion:1,endDate:$e){id}}"),
                json!({"id": s, "e": end}),
            )
        }

        // ---- meetings ----
        "createMeeting" | "createMeeting:workingGroup" => {
            let b = if row == "createMeeting" { w.conference().await } else { w.empty_working_group().await };
            (
                q(CREATE_MEETING),
                json!({"i": {"bodyId": b, "title": "Séance plénière", "startsAt": paris_time(40, 10), "endsAt": paris_time(40, 12)}}),
            )
        }
        "updateMeeting" => {
            let m = w.draft(&w.conference().await).await;
            (
                q("mutation($i:UpdateMeetingInput!){updateMeeting(input:$i){id}}"),
                json!({"i": {"id": m.id, "expectedVersion": m.version, "venue": "Mairie de Cassis"}}),
            )
        }
        "addAgendaItem" | "addAgendaItem:workingGroup" => {
            let b = if row == "addAgendaItem" { w.conference().await } else { w.empty_working_group().await };
            let m = w.draft(&b).await;
            (
                q(ADD_ITEM),
                json!({"i": {"meetingId": m.id, "kind": "INFORMATION", "title": "Point d'étape", "note": "Note."}}),
            )
        }
        "uploadDocument" => {
            let m = w.draft(&w.conference().await).await;
            (q(UPLOAD), json!({"m": m.id, "i": m.item, "file": null}))
        }
        "conveneMeeting" | "conveneMeeting:workingGroup" => {
            let b = if row == "conveneMeeting" { w.conference().await } else { w.working_group().await };
            let m = w.draft(&b).await;
            (q(CONVENE), json!({"id": m.id, "v": m.version}))
        }
        // Postponing or cancelling is for who convenes (the president too, for the conference).
        "transitionMeeting:postponeConference" => {
            let m = w.convened(&w.conference().await).await;
            (
                q(TRANSITION),
                json!({"i": {"id": m.id, "expectedVersion": m.version, "status": "POSTPONED", "reason": "Grève des transports"}}),
            )
        }
        "transitionMeeting:cancelWorkingGroup" => {
            let m = w.draft(&w.working_group().await).await;
            (q(TRANSITION), json!({"i": {"id": m.id, "expectedVersion": m.version, "status": "CANCELLED"}}))
        }
        // Recording that the meeting was held is for the secretariat.
        "transitionMeeting:hold" => {
            let m = w.convened(&w.conference().await).await;
            crate::meetings::has_begun(&w.app, &m.id).await;
            (q(TRANSITION), json!({"i": {"id": m.id, "expectedVersion": m.version, "status": "HELD"}}))
        }
        "recordAttendance" => {
            let m = w.convened(&w.conference().await).await;
            (
                q(RECORD_ATTENDANCE),
                json!({"m": m.id, "rows": [{"personId": w.mayor_of_marseille.person, "status": "ABSENT"}]}),
            )
        }
        "giveProxy" => {
            let m = w.convened(&w.conference().await).await;
            (q(GIVE_PROXY), w.proxy_input(&m.id))
        }
        "revokeProxy" => {
            let m = w.convened(&w.conference().await).await;
            let d = w.as_admin(GIVE_PROXY, w.proxy_input(&m.id)).await;
            (q("mutation($id:ID!){revokeProxy(id:$id){revokedAt}}"), json!({"id": d["giveProxy"]["id"]}))
        }
        // Quorum is met: both members of the working group are present.
        "recordVote" => {
            let m = w.convened(&w.working_group().await).await;
            let rows: Vec<Value> = [&w.mayor_of_marseille, &w.mayor_of_cassis]
                .iter()
                .map(|x| json!({"personId": x.person, "status": "PRESENT"}))
                .collect();
            w.as_admin(RECORD_ATTENDANCE, json!({"m": m.id, "rows": rows})).await;
            (
                q("mutation($i:RecordVoteInput!){recordVote(input:$i){id}}"),
                json!({"i": {"itemId": m.item, "expectedVersion": 1, "votesFor": 2, "against": 0, "abstain": 0}}),
            )
        }
        // Quorum fails at the item.
        "secondConvocation" | "secondConvocation:workingGroup" => {
            let b = if row == "secondConvocation" { w.conference().await } else { w.working_group().await };
            let m = w.convened(&b).await;
            // Marseille's mayor (a member of both bodies) absent: quorum fails at the item.
            let rows = json!([{"personId": w.mayor_of_marseille.person, "status": "ABSENT"}]);
            w.as_admin(RECORD_ATTENDANCE, json!({"m": m.id, "rows": rows})).await;
            (
                q("mutation($m:ID!,$s:NaiveDateTime!,$e:NaiveDateTime!){secondConvocation(meetingId:$m,startsAt:$s,endsAt:$e){id}}"),
                json!({"m": m.id, "s": paris_time(50, 10), "e": paris_time(50, 12)}),
            )
        }
        "draftMinutes" => {
            let m = w.held(&w.conference().await).await;
            (
                q("mutation($m:ID!,$v:Int!){draftMinutes(meetingId:$m,expectedVersion:$v,text:\"Procès-verbal\"){id}}"),
                json!({"m": m.id, "v": m.version}),
            )
        }
        "publish" => {
            let m = w.held(&w.conference().await).await;
            (q("mutation($m:ID!){publish(meetingId:$m,what:DECISIONS){id}}"), json!({"m": m.id}))
        }

        // ---- mayors' requests ----
        "createMeetingRequest" => {
            let b = w.conference().await;
            (q(CREATE_REQUEST), json!({"b": b, "a": "Plan climat"}))
        }
        "signMeetingRequest" => {
            // Aix's mayor opens (and signs) the request; others co-sign.
            let b = w.conference().await;
            let r = w.app.gql(Some(&w.mayor_aix), CREATE_REQUEST, json!({"b": b, "a": "Plan climat"})).await;
            (
                q("mutation($id:ID!){signMeetingRequest(id:$id){signatures}}"),
                json!({"id": ok(&r)["createMeetingRequest"]["id"]}),
            )
        }

        // ---- referrals ----
        "createReferral" | "createReferral:national" => {
            let e = if row == "createReferral" { json!(w.amp) } else { Value::Null };
            let deadline = (entente::time::today_paris() + chrono::Duration::days(30)).to_string();
            (
                q(crate::referrals::CREATE),
                json!({"e": e, "p": "FREE_CONSULTATION", "i": {"title": "Consultation", "silence": "NO_RESPONSE", "deadlineDate": deadline}}),
            )
        }
        "updateReferral" => {
            let (id, v) = w.draft_referral("FREE_CONSULTATION").await;
            let deadline = (entente::time::today_paris() + chrono::Duration::days(40)).to_string();
            (
                q("mutation($id:ID!,$v:Int!,$i:ReferralInput!){updateReferral(id:$id,expectedVersion:$v,input:$i){id}}"),
                json!({"id": id, "v": v, "i": {"title": "Renommée", "silence": "NO_RESPONSE", "deadlineDate": deadline}}),
            )
        }
        "setReferralForm" => {
            let (id, _) = w.draft_referral("DATA_COLLECTION").await;
            (
                q(crate::referrals::SET_FORM),
                json!({"id": id, "f": [{"key": "agents", "label": "Agents", "type": "INTEGER"}]}),
            )
        }
        "uploadReferralDocument" => {
            let (id, _) = w.draft_referral("FREE_CONSULTATION").await;
            (
                q("mutation($r:ID!,$file:Upload!){uploadReferralDocument(referralId:$r,file:$file){id}}"),
                json!({"r": id, "file": null}),
            )
        }
        "openReferral" => {
            let (id, v) = w.draft_referral("FREE_CONSULTATION").await;
            (q(crate::referrals::OPEN), json!({"id": id, "v": v}))
        }
        "extendReferralDeadline" => {
            let (id, v) = w.open_referral("FREE_CONSULTATION").await;
            let day = (entente::time::today_paris() + chrono::Duration::days(60)).to_string();
            (
                q("mutation($id:ID!,$v:Int!,$d:NaiveDate!){extendReferralDeadline(id:$id,expectedVersion:$v,deadlineDate:$d,reason:\"Demande des maires\"){id}}"),
                json!({"id": id, "v": v, "d": day}),
            )
        }
        "saveResponseDraft" | "submitResponse" => {
            let (id, _) = w.open_referral("FREE_CONSULTATION").await;
            let query = if row == "submitResponse" { crate::referrals::SUBMIT } else { crate::referrals::DRAFT };
            (
                q(query),
                json!({"i": {"referralId": id, "communeId": w.marseille, "expectedVersion": 1, "opinion": "FAVOURABLE"}}),
            )
        }
        "uploadResponseFile" => {
            let (id, _) = w.open_referral("DATA_COLLECTION").await;
            (
                q("mutation($r:ID!,$c:ID!,$file:Upload!){uploadResponseFile(referralId:$r,communeId:$c,file:$file){id}}"),
                json!({"r": id, "c": w.marseille, "file": null}),
            )
        }
        "grantSignatureDelegation" => (
            q("mutation($c:ID!,$p:ID!){grantSignatureDelegation(communeId:$c,personId:$p){id}}"),
            json!({"c": w.marseille, "p": w.dgs_marseille}),
        ),
        "revokeSignatureDelegation" => {
            let decode = |k, id: &str| entente::ids::decode("id", k, &async_graphql::ID(id.into())).unwrap();
            let d = entente::referrals::service::grant_signature(
                &w.app.state,
                &entente::auth::Actor::system("test"),
                decode(entente::ids::Kind::Commune, &w.marseille),
                decode(entente::ids::Kind::Person, &w.dgs_marseille),
            )
            .await
            .unwrap();
            (
                q("mutation($id:ID!){revokeSignatureDelegation(id:$id){id}}"),
                json!({"id": entente::ids::encode(entente::ids::Kind::SignatureDelegation, d.id)}),
            )
        }
        "createPolicy" => (
            q("mutation($i:CreatePolicyInput!){createPolicy(input:$i){id}}"),
            json!({"i": {"intercommunalityId": w.amp, "kind": "CHARTER", "title": format!("Charte {}", w.next())}}),
        ),
        "updatePolicy" => {
            let (p, _) = w.policy(0).await;
            (
                q("mutation($i:UpdatePolicyInput!){updatePolicy(input:$i){id}}"),
                json!({"i": {"id": p, "expectedVersion": 1, "summary": "Résumé"}}),
            )
        }
        "addPolicySection" => {
            let (p, _) = w.policy(0).await;
            (
                q("mutation($i:AddPolicySectionInput!){addPolicySection(input:$i){id}}"),
                json!({"i": {"policyId": p, "title": "Article"}}),
            )
        }
        "updatePolicySection" => {
            let (_, s) = w.policy(1).await;
            (
                q("mutation($i:UpdatePolicySectionInput!){updatePolicySection(input:$i){id}}"),
                json!({"i": {"id": s[0], "expectedVersion": 1, "body": "Texte"}}),
            )
        }
        "movePolicySection" => {
            let (_, s) = w.policy(2).await;
            (
                q("mutation($i:MovePolicySectionInput!){movePolicySection(input:$i){id}}"),
                json!({"i": {"id": s[1], "expectedVersion": 1, "parentId": s[0], "position": 0}}),
            )
        }
        "removePolicySection" => {
            let (_, s) = w.policy(1).await;
            (q("mutation($id:ID!){removePolicySection(id:$id,expectedVersion:1)}"), json!({"id": s[0]}))
        }
        "uploadPolicyDocument" => {
            let (p, _) = w.policy(0).await;
            (
                q("mutation($p:ID!,$file:Upload!){uploadPolicyDocument(policyId:$p,file:$file){id}}"),
                json!({"p": p, "file": null}),
            )
        }
        "publishPolicyVersion" => {
            let (p, _) = w.policy(1).await;
            (q("mutation($p:ID!){publishPolicyVersion(policyId:$p,changeNote:\"V1\"){id}}"), json!({"p": p}))
        }
        "transitionPolicy" => {
            let (p, _) = w.policy(1).await;
            (
                q("mutation($i:TransitionPolicyInput!){transitionPolicy(input:$i){id}}"),
                json!({"i": {"id": p, "expectedVersion": 1, "to": "ABANDON"}}),
            )
        }
        "contributeToPolicy" => {
            let (p, _) = w.policy_in_concertation().await;
            (
                q("mutation($i:ContributeInput!){contributeToPolicy(input:$i){id}}"),
                json!({"i": {"policyId": p, "kind": "COMMENT", "communeId": w.marseille, "body": "Avis favorable."}}),
            )
        }
        "cosignContribution" => {
            // Aix's mayor writes; Marseille co-signs.
            let (p, _) = w.policy_in_concertation().await;
            let aix = w.app.commune_id(&w.admin, "13001").await;
            let r = w
                .app
                .gql(
                    Some(&w.mayor_aix),
                    "mutation($i:ContributeInput!){contributeToPolicy(input:$i){id}}",
                    json!({"i": {"policyId": p, "kind": "PROPOSAL", "communeId": aix, "body": "Un plan vélo."}}),
                )
                .await;
            let c = ok(&r)["contributeToPolicy"]["id"].clone();
            (
                q("mutation($id:ID!,$c:ID!){cosignContribution(id:$id,communeId:$c){id}}"),
                json!({"id": c, "c": w.marseille}),
            )
        }
        "withdrawContribution" => {
            let c = w.contribution().await;
            (q("mutation($id:ID!){withdrawContribution(id:$id,expectedVersion:1){id}}"), json!({"id": c}))
        }
        "answerContribution" => {
            let c = w.contribution().await;
            (
                q("mutation($i:AnswerContributionInput!){answerContribution(input:$i){id}}"),
                json!({"i": {"id": c, "expectedVersion": 1, "answer": "OUT_OF_SCOPE", "reasons": "Hors compétence."}}),
            )
        }
        "addPolicyConsultation" => {
            let (p, _) = w.policy(1).await;
            w.as_admin("mutation($p:ID!){publishPolicyVersion(policyId:$p,changeNote:\"V1\"){id}}", json!({"p": p}))
                .await;
            w.as_admin(
                "mutation($i:TransitionPolicyInput!){transitionPolicy(input:$i){id}}",
                json!({"i": {"id": p, "expectedVersion": 2, "to": "START_CONSULTATION"}}),
            )
            .await;
            let deadline = (entente::time::today_paris() + chrono::Duration::days(60)).to_string();
            let r = w
                .as_admin(
                    crate::referrals::CREATE,
                    json!({"e": w.amp, "p": "FREE_CONSULTATION", "i": {"title": "Avis", "silence": "NO_RESPONSE", "deadlineDate": deadline}}),
                )
                .await;
            (
                q("mutation($i:AddPolicyConsultationInput!){addPolicyConsultation(input:$i){versionNumber}}"),
                json!({"i": {"policyId": p, "versionNumber": 1, "referralId": r["createReferral"]["id"]}}),
            )
        }
        "addPolicyStep" => {
            let (p, _) = w.policy(0).await;
            (
                q("mutation($i:AddPolicyStepInput!){addPolicyStep(input:$i){id}}"),
                json!({"i": {"policyId": p, "kind": "OPINION", "label": "Avis de la conférence"}}),
            )
        }
        "recordPolicyStep" => {
            let (p, _) = w.policy(1).await;
            w.as_admin("mutation($p:ID!){publishPolicyVersion(policyId:$p,changeNote:\"V1\"){id}}", json!({"p": p}))
                .await;
            w.as_admin(
                "mutation($i:TransitionPolicyInput!){transitionPolicy(input:$i){id}}",
                json!({"i": {"id": p, "expectedVersion": 2, "to": "START_APPROVAL"}}),
            )
            .await;
            let s = w
                .as_admin(
                    "mutation($i:AddPolicyStepInput!){addPolicyStep(input:$i){id}}",
                    json!({"i": {"policyId": p, "kind": "OPINION", "label": "Avis"}}),
                )
                .await;
            (
                q("mutation($i:RecordPolicyStepInput!){recordPolicyStep(input:$i){id}}"),
                json!({"i": {"id": s["addPolicyStep"]["id"], "expectedVersion": 1, "versionNumber": 1, "outcome": "FAVOURABLE", "decidedOn": "2026-06-16"}}),
            )
        }
        other => panic!("no attempt for {other}"),
    }
}

/// Expected outcome per role: true = allowed. Anonymous is always UNAUTHENTICATED.
fn allowed(row: &str, r: Role) -> bool {
    let commune_officer = matches!(r, MayorMarseille | DgsMarseille);
    let amp_secretariat = matches!(r, Admin | SecretariatAmp);
    match row {
        "createPerson" => !matches!(r, Anonymous | President),
        "updatePerson" | "createMandate" | "endMandate" | "inviteAccount" => amp_secretariat || commune_officer,
        "createTerritory" | "updateTerritory" | "deleteTerritory" | "inviteAccount:secretariat" => amp_secretariat,
        "auditEntries" => amp_secretariat || r == President,
        // The secretariat prepares, records and publishes (the president may not).
        "createBody"
        | "updateBodyRules"
        | "addBodySeat:appointment"
        | "endBodySeat:appointment"
        | "addAgendaItem:workingGroup"
        | "uploadDocument"
        | "transitionMeeting:hold"
        | "recordAttendance"
        | "recordVote"
        | "draftMinutes"
        | "publish" => amp_secretariat,
        // Preparing and convening: the secretariat, and the president for the conference of
        // mayors only.
        "createMeeting"
        | "updateMeeting"
        | "addAgendaItem"
        | "conveneMeeting"
        | "transitionMeeting:postponeConference"
        | "secondConvocation" => amp_secretariat || r == President,
        "createMeeting:workingGroup"
        | "conveneMeeting:workingGroup"
        | "transitionMeeting:cancelWorkingGroup"
        | "secondConvocation:workingGroup" => amp_secretariat,
        // A mayor designates councillors of their own commune (a Marseille councillor here).
        "addBodySeat" | "endBodySeat" => amp_secretariat || r == MayorMarseille,
        // The giver (Marseille's mayor) or the secretariat recording a written proxy.
        "giveProxy" | "revokeProxy" => amp_secretariat || r == MayorMarseille,
        // Current mayors of member communes. The admin passes the policy but holds no mayor
        // mandate to sign with: the service refuses (FORBIDDEN) and nothing is written.
        "createMeetingRequest" | "signMeetingRequest" => matches!(r, MayorMarseille | MayorCassis),
        // The secretariat prepares and follows referrals; a national one is the admin's.
        "createReferral"
        | "updateReferral"
        | "setReferralForm"
        | "uploadReferralDocument"
        | "openReferral"
        | "extendReferralDeadline" => amp_secretariat,
        "createReferral:national" => r == Admin,
        // Marseille's response: drafted by those acting for it, signed by its mayor (an
        // admin takes over no commune's voice). The mayor alone delegates the signature.
        "saveResponseDraft" | "uploadResponseFile" => commune_officer,
        "submitResponse" | "grantSignatureDelegation" | "revokeSignatureDelegation" => r == MayorMarseille,
        // The secretariat creates, describes and moves policies along; their text is
        // drafted by the drafting team too: here the lead official, AMP's president.
        "createPolicy" | "updatePolicy" | "transitionPolicy" => amp_secretariat,
        "addPolicySection"
        | "updatePolicySection"
        | "movePolicySection"
        | "removePolicySection"
        | "uploadPolicyDocument"
        | "publishPolicyVersion" => amp_secretariat || r == President,
        // For Marseille: those acting for it (an admin takes over no commune's voice);
        // withdrawn by its author (Marseille's mayor) only; answered by the drafting team.
        "contributeToPolicy" | "cosignContribution" => commune_officer,
        "withdrawContribution" => r == MayorMarseille,
        "answerContribution" => amp_secretariat || r == President,
        "addPolicyStep" | "recordPolicyStep" | "addPolicyConsultation" => amp_secretariat,
        other => panic!("no expectation for {other}"),
    }
}

/// Audit entries an allowed attempt writes.
fn audit_entries(row: &str) -> u64 {
    match row {
        "auditEntries" => 0,
        // Opening a request records it and the opener's signature.
        "createMeetingRequest" => 2,
        _ => 1,
    }
}

/// The schema field a matrix row calls.
fn field(row: &str) -> &str {
    row.split(':').next().unwrap_or(row)
}

/// Mutations everyone signed in may call for themselves: the first four are tested in
/// auth.rs, the next two in `self_service_meeting_mutations` below, the next in
/// lists.rs (`notifications_are_marked_read_by_their_own_person_only`), the last three in
/// delivery.rs (`each_person_chooses_immediate_digest_or_none_except_for_legal_notices`,
/// `a_forgotten_password_is_reset_by_a_link_sent_by_e_mail_once_within_the_hour`).
const SELF_SERVICE: [&str; 10] = [
    "login",
    "logout",
    "acceptInvitation",
    "changePassword",
    "acknowledgeConvocation",
    "createCalendarFeed",
    "markNotificationsRead",
    "setNotificationPreference",
    "requestPasswordReset",
    "resetPassword",
];
const MATRIX: [&str; 65] = [
    "createPerson",
    "updatePerson",
    "createMandate",
    "endMandate",
    "createTerritory",
    "updateTerritory",
    "deleteTerritory",
    "inviteAccount",
    "inviteAccount:secretariat",
    "auditEntries",
    "createBody",
    "updateBodyRules",
    "addBodySeat",
    "addBodySeat:appointment",
    "endBodySeat",
    "endBodySeat:appointment",
    "createMeeting",
    "createMeeting:workingGroup",
    "updateMeeting",
    "addAgendaItem",
    "addAgendaItem:workingGroup",
    "uploadDocument",
    "conveneMeeting",
    "conveneMeeting:workingGroup",
    "transitionMeeting:postponeConference",
    "transitionMeeting:cancelWorkingGroup",
    "transitionMeeting:hold",
    "recordAttendance",
    "giveProxy",
    "revokeProxy",
    "recordVote",
    "secondConvocation",
    "secondConvocation:workingGroup",
    "draftMinutes",
    "publish",
    "createMeetingRequest",
    "signMeetingRequest",
    "createReferral",
    "createReferral:national",
    "updateReferral",
    "setReferralForm",
    "uploadReferralDocument",
    "openReferral",
    "extendReferralDeadline",
    "saveResponseDraft",
    "submitResponse",
    "uploadResponseFile",
    "grantSignatureDelegation",
    "revokeSignatureDelegation",
    "createPolicy",
    "updatePolicy",
    "addPolicySection",
    "updatePolicySection",
    "movePolicySection",
    "removePolicySection",
    "uploadPolicyDocument",
    "publishPolicyVersion",
    "transitionPolicy",
    "contributeToPolicy",
    "cosignContribution",
    "withdrawContribution",
    "answerContribution",
    "addPolicyStep",
    "recordPolicyStep",
    "addPolicyConsultation",
];

/// Runs a prepared attempt with `token`: a GraphQL multipart request for an upload.
async fn run(w: &World, token: Option<&str>, row: &str, query: &str, vars: Value) -> Value {
    if matches!(field(row), "uploadDocument" | "uploadReferralDocument" | "uploadResponseFile" | "uploadPolicyDocument")
    {
        upload(&w.app, token, query, vars, "ordre-du-jour.pdf", b"%PDF-1.4 ordre du jour").await
    } else {
        w.app.gql(token, query, vars).await
    }
}

async fn current_mayor(app: &TestApp, token: &str, insee: &str) -> Mayor {
    let q = "query($c:String!){commune(inseeCode:$c){currentMayor{id person{id}}}}";
    let r = app.gql(Some(token), q, json!({"c": insee})).await;
    let m = &ok(&r)["commune"]["currentMayor"];
    Mayor { person: m["person"]["id"].as_str().unwrap().into(), mandate: m["id"].as_str().unwrap().into() }
}

/// The demo, a second intercommunality with its secretariat, and one token per role.
async fn world() -> (World, Vec<Option<String>>) {
    let (app, other_secretariat) = with_second_secretariat().await;
    let admin = app.login_as("admin@demo.entente.fr").await;
    let marseille = app.commune_id(&admin, "13055").await;
    let martigues = app.commune_id(&admin, "13056").await;
    let amp = app.epci_id(&admin, "200054807").await;
    let mut tokens = Vec::new();
    for r in ROLES {
        tokens.push(match email(r) {
            None => None,
            Some(_) if r == SecretariatOther => Some(other_secretariat.clone()),
            Some(e) => Some(app.login_as(e).await),
        });
    }
    let mayor_of_marseille = current_mayor(&app, &admin, "13055").await;
    let mayor_of_cassis = current_mayor(&app, &admin, "13022").await;
    let mayor_aix = app.login_as("maire.aix@demo.entente.fr").await;
    let mayor_marseille = app.login_as("maire.marseille@demo.entente.fr").await;
    let r = app.gql(Some(&admin), "{commune(inseeCode:\"13055\"){council{role person{id}}}}", json!({})).await;
    let dgs_marseille = ok(&r)["commune"]["council"].as_array().unwrap().iter().find(|m| m["role"] == "DGS").unwrap()
        ["person"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sec_amp = tokens[2].clone().unwrap();
    let w = World {
        app,
        admin,
        sec_amp,
        mayor_aix,
        mayor_marseille,
        marseille,
        amp,
        martigues,
        mayor_of_marseille,
        mayor_of_cassis,
        dgs_marseille,
        seq: Default::default(),
    };
    (w, tokens)
}

#[tokio::test]
async fn every_mutation_as_every_role() {
    let (w, tokens) = world().await;

    // Every mutation of the schema is in the matrix or self-service.
    let intro = w.app.gql(Some(&w.admin), "{__type(name:\"Mutation\"){fields{name}}}", json!({})).await;
    let in_schema: BTreeSet<String> = ok(&intro)["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let covered: BTreeSet<String> = MATRIX
        .iter()
        .chain(SELF_SERVICE.iter())
        .filter(|m| **m != "auditEntries")
        .map(|s| field(s).to_string())
        .collect();
    assert_eq!(in_schema, covered, "a mutation is missing from the permission matrix");

    let mut failures = Vec::new();
    for row in MATRIX {
        for (i, role) in ROLES.iter().enumerate() {
            let (query, vars) = attempt(&w, row).await;
            let audits = w.app.audit_count().await;
            let r = run(&w, tokens[i].as_deref(), row, &query, vars).await;
            let got = r["errors"][0]["extensions"]["code"].as_str().map(str::to_string);
            let expected = match (role, allowed(row, *role)) {
                (Anonymous, _) => Some("UNAUTHENTICATED".to_string()),
                (_, true) => None,
                (_, false) => Some("FORBIDDEN".to_string()),
            };
            if got != expected {
                failures.push(format!("{row} as {role:?}: expected {expected:?}, got {r}"));
            }
            let wrote = w.app.audit_count().await - audits;
            match &expected {
                None if wrote != audit_entries(row) => {
                    failures.push(format!("{row} as {role:?}: {wrote} audit entries, expected {}", audit_entries(row)))
                }
                Some(_) if wrote != 0 => {
                    failures.push(format!("{row} as {role:?} was refused but wrote {wrote} audit entries"))
                }
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "permission matrix:\n{}", failures.join("\n"));
}

/// Acknowledging a convocation is the convened person's own act; a feed is one's own.
#[tokio::test]
async fn self_service_meeting_mutations() {
    let (w, tokens) = world().await;
    let m = w.convened(&w.conference().await).await;
    let token = |r: Role| tokens[ROLES.iter().position(|x| *x == r).unwrap()].as_deref();

    let r = w.app.gql(None, ACKNOWLEDGE, json!({"m": m.id})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED", "{r}");
    // Not convened (the DGS and the secretariat do not sit in the conference): nothing to acknowledge.
    let before = w.app.audit_count().await;
    for r in [DgsMarseille, SecretariatAmp, SecretariatOther, Admin] {
        let resp = w.app.gql(token(r), ACKNOWLEDGE, json!({"m": m.id})).await;
        assert_eq!(code(&resp), "NOT_FOUND", "{r:?}: {resp}");
    }
    assert_eq!(w.app.audit_count().await, before);
    // The convened mayor acknowledges, once.
    let resp = w.app.gql(token(MayorMarseille), ACKNOWLEDGE, json!({"m": m.id})).await;
    assert!(ok(&resp)["acknowledgeConvocation"]["readAt"].is_string(), "{resp}");
    assert_eq!(w.app.audit_count().await, before + 1);
    let again = w.app.gql(token(MayorMarseille), ACKNOWLEDGE, json!({"m": m.id})).await;
    assert_eq!(ok(&again)["acknowledgeConvocation"]["readAt"], ok(&resp)["acknowledgeConvocation"]["readAt"]);
    assert_eq!(w.app.audit_count().await, before + 1);

    // Calendar feeds: anyone signed in, for themselves.
    let feed = "mutation{createCalendarFeed{path}}";
    assert_eq!(code(&w.app.gql(None, feed, json!({})).await), "UNAUTHENTICATED");
    for r in ROLES.into_iter().filter(|r| *r != Anonymous) {
        let before = w.app.audit_count().await;
        let resp = w.app.gql(token(r), feed, json!({})).await;
        assert!(ok(&resp)["createCalendarFeed"]["path"].as_str().unwrap().starts_with("/calendar/"), "{r:?}: {resp}");
        assert_eq!(w.app.audit_count().await, before + 1, "{r:?}");
    }
}

#[tokio::test]
async fn a_secretariat_reads_only_its_own_audit_log() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let r = app
        .gql(Some(&sec), "{auditEntries(action:\"LOAD_DEMO\"){totalCount edges{node{action actor}}}}", json!({}))
        .await;
    let actions: Vec<_> = ok(&r)["auditEntries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"LOAD_DEMO".to_string()), "{actions:?}");
    let all = app.gql(Some(&sec), "{a: auditEntries(intercommunalityId:null){totalCount}}", json!({})).await;
    ok(&all);
    let admin = app.login_as("admin@demo.entente.fr").await;
    let r = app.gql(Some(&admin), "{auditEntries{totalCount}}", json!({})).await;
    assert!(ok(&r)["auditEntries"]["totalCount"].as_u64().unwrap() >= 3);
}

#[tokio::test]
async fn emails_are_visible_to_secretariats_and_the_person_only() {
    let app = TestApp::demo().await;
    let q = "{commune(inseeCode:\"13055\"){council{role person{email}}}}";
    let dgs_email = |r: &Value| {
        r["data"]["commune"]["council"].as_array().unwrap().iter().find(|m| m["role"] == "DGS").unwrap()["person"]
            ["email"]
            .clone()
    };
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    assert_eq!(dgs_email(&app.gql(Some(&sec), q, json!({})).await), "dgs.marseille@demo.entente.fr");
    let dgs = app.login_as("dgs.marseille@demo.entente.fr").await;
    assert_eq!(dgs_email(&app.gql(Some(&dgs), q, json!({})).await), "dgs.marseille@demo.entente.fr");
    let cassis = app.login_as("maire.cassis@demo.entente.fr").await;
    assert!(dgs_email(&app.gql(Some(&cassis), q, json!({})).await).is_null());
}

/// The demo plus a second intercommunality (CC Faucigny - Glières) with its secretariat;
/// returns the app and that secretariat's token.
async fn with_second_secretariat() -> (TestApp, String) {
    let app = TestApp::demo().await;
    let parsed =
        entente::territory::import::parse_files(&fixture("communes.json"), &fixture("epci.json"), None).unwrap();
    entente::territory::import::apply(&app.state, &entente::auth::Actor::system("test"), parsed, &Default::default())
        .await
        .unwrap();
    let other = entente::territory::service::intercommunality_id_by_siren(
        &app.state,
        &entente::territory::rules::Siren::parse("200000172").unwrap(),
    )
    .await
    .unwrap();
    entente::auth::service::create_account(
        &app.state,
        "sg@faucigny-glieres.fr",
        "Gaëlle",
        "Glières",
        entente::auth::PlatformRole::Secretariat,
        Some(other),
        "a long enough passphrase",
    )
    .await
    .unwrap();
    let t = app.login("sg@faucigny-glieres.fr", "a long enough passphrase").await.unwrap();
    (app, t)
}

const INVITE: &str = "mutation($i:InviteAccountInput!){inviteAccount(input:$i){token}}";

#[tokio::test]
async fn a_mayor_cannot_take_over_another_commune_s_official() {
    let (app, other_sec) = with_second_secretariat().await;
    let cassis_mayor = app.login_as("maire.cassis@demo.entente.fr").await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let cassis = app.commune_id(&sec, "13022").await;
    let r = app.gql(Some(&sec), "{commune(inseeCode:\"13005\"){currentMayor{person{id}}}}", json!({})).await;
    let aubagne_mayor = ok(&r)["commune"]["currentMayor"]["person"]["id"].clone();
    let before = app.audit_count().await;
    // Recording a councillor mandate in Cassis for Aubagne's mayor, to gain cover of them.
    let r = app
        .gql(Some(&cassis_mayor), CREATE_MANDATE, json!({"i": {"personId": aubagne_mayor, "organisationId": cassis, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-04-01"}}))
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
    // Inviting them to an account the attacker controls.
    let r = app
        .gql(
            Some(&cassis_mayor),
            INVITE,
            json!({"i": {"personId": aubagne_mayor, "email": "attacker@example.fr", "role": "MEMBER"}}),
        )
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
    // Another intercommunality's secretariat cannot either.
    let r = app
        .gql(
            Some(&other_sec),
            INVITE,
            json!({"i": {"personId": aubagne_mayor, "email": "attacker@example.fr", "role": "MEMBER"}}),
        )
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
    assert_eq!(app.audit_count().await, before);
}

#[tokio::test]
async fn a_pending_secretariat_invitation_cannot_be_hijacked() {
    let app = TestApp::demo().await;
    let sec = app.login_as("secretariat@demo.entente.fr").await;
    let marseille_mayor = app.login_as("maire.marseille@demo.entente.fr").await;
    let marseille = app.commune_id(&sec, "13055").await;
    let amp = app.epci_id(&sec, "200054807").await;
    let p = person(&app, &sec, "Agente", "Concertation").await;
    ok(&app.gql(Some(&sec), CREATE_MANDATE, json!({"i": {"personId": p, "organisationId": marseille, "role": "MUNICIPAL_COUNCILLOR", "startDate": "2026-04-01"}})).await);
    ok(&app
        .gql(
            Some(&sec),
            INVITE,
            json!({"i": {"personId": p, "email": "agente@amp.fr", "role": "SECRETARIAT", "intercommunalityId": amp}}),
        )
        .await);
    let r = app
        .gql(
            Some(&marseille_mayor),
            INVITE,
            json!({"i": {"personId": p, "email": "mine@example.fr", "role": "MEMBER"}}),
        )
        .await;
    assert_eq!(crate::helpers::code(&r), "FORBIDDEN", "{r}");
}

#[tokio::test]
async fn emails_stay_within_the_intercommunality() {
    let (app, other_sec) = with_second_secretariat().await;
    let q = "{commune(inseeCode:\"13055\"){council{role person{email}}}}";
    let r = app.gql(Some(&other_sec), q, json!({})).await;
    let council = ok(&r)["commune"]["council"].as_array().unwrap().clone();
    assert!(council.iter().all(|m| m["person"]["email"].is_null()), "{r}");
}

/// A GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec)
/// uploading `content` as `variables.file`, built by hand.
async fn upload(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
    name: &str,
    content: &[u8],
) -> Value {
    let boundary = "entente-permissions-boundary-7d3f";
    let operations = json!({ "query": query, "variables": variables }).to_string();
    let mut body = Vec::new();
    let mut part = |headers: String, data: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    };
    part("Content-Disposition: form-data; name=\"operations\"".into(), operations.as_bytes());
    part("Content-Disposition: form-data; name=\"map\"".into(), br#"{"0":["variables.file"]}"#);
    part(
        format!("Content-Disposition: form-data; name=\"0\"; filename=\"{name}\"\r\nContent-Type: application/pdf"),
        content,
    );
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").json().await.unwrap_or(Value::Null)
}
