//! Two server instances on one database, as behind a load balancer (on PostgreSQL, what
//! production runs; on SQLite the same code paths in one process): an event committed
//! through A reaches a subscriber of B; the e-mail queue is drained once across both;
//! one instance runs the periodic job at each tick (PostgreSQL's advisory lock).
use std::sync::atomic::Ordering;
use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::delivery::{app_sending_to, SmtpServer};
use crate::helpers::{backend, ok};
use crate::live::Client;
use crate::meetings::{add_item, convene, create_meeting};

#[tokio::test]
async fn two_instances_share_live_events_the_mail_queue_and_the_periodic_job() {
    let smtp = SmtpServer::start();
    let a = app_sending_to(&smtp).await;
    let b = a.second_instance().await;
    // Every person gets an address, so that convening the conference makes ~90 e-mails.
    a.state
        .db
        .execute_unprepared("UPDATE person SET email = 'p' || id || '@communes.test' WHERE email IS NULL")
        .await
        .unwrap();
    let sec = a.login_as("secretariat@demo.entente.fr").await;
    let r = a.gql(Some(&sec), "{intercommunality(siren:\"200054807\"){id}}", json!({})).await;
    let epci = ok(&r)["intercommunality"]["id"].as_str().unwrap().to_string();
    let r = a.gql(Some(&sec), "query($e:ID!){bodies(intercommunalityId:$e){nodes{id kind}}}", json!({"e": epci})).await;
    let conference =
        ok(&r)["bodies"]["nodes"].as_array().unwrap().iter().find(|b| b["kind"] == "CONFERENCE_OF_MAYORS").unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    let m = create_meeting(&a, &sec, &conference, 20).await;
    add_item(&a, &sec, &m, "VOTE", "Avis").await;

    // A subscriber connected to B sees what is committed through A (how soon is measured
    // by bench/delivery.sh, not asserted here).
    let mut screen = Client::signed_in(&b, &sec).await;
    screen.subscribe("1", "subscription($id:ID!){meetingLive(id:$id){change meeting{status}}}", json!({"id": m})).await;
    assert_eq!(screen.next().await.unwrap()["payload"]["data"]["meetingLive"]["meeting"]["status"], "DRAFT");
    ok(&convene(&a, &sec, &m, None).await);
    let got = screen.next().await.unwrap();
    assert_eq!(got["payload"]["data"]["meetingLive"]["change"], "CONVENE_MEETING", "{got}");
    assert_eq!(got["payload"]["data"]["meetingLive"]["meeting"]["status"], "CONVENED");

    // Both instances send; each convocation reaches the server once.
    let queued = deliveries(&a).await;
    assert!(queued >= 90, "{queued}");
    let small = |app: &crate::helpers::TestApp| {
        let mut cfg = app.state.config.mail.clone();
        cfg.batch = 3;
        std::sync::Arc::new(entente::platform::mail::Mailer::new(&cfg, &app.state.receipt_key).unwrap())
    };
    let ma = entente::platform::mail::drain::spawn(a.state.db.clone(), small(&a));
    let mb = entente::platform::mail::drain::spawn(b.state.db.clone(), small(&b));
    let got = smtp.wait_for(queued).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ma.abort();
    mb.abort();
    let mut to: Vec<String> = smtp.received().iter().flat_map(|r| r.to.clone()).collect();
    assert_eq!(got.len(), queued, "every message once");
    to.sort();
    let n = to.len();
    to.dedup();
    assert_eq!(to.len(), n, "no one twice");

    // The periodic job: on PostgreSQL one instance runs it at each tick.
    let ja = entente::jobs::spawn(a.state.db.clone(), Duration::from_millis(50));
    let jb = entente::jobs::spawn(b.state.db.clone(), Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (ra, rb) = (ja.ticks_run.load(Ordering::Relaxed), jb.ticks_run.load(Ordering::Relaxed));
    ja.task.abort();
    jb.task.abort();
    if backend() == "postgres" {
        assert!((ra > 0) != (rb > 0), "one instance leads: A ran {ra} ticks, B {rb}");
    } else {
        assert!(ra > 0 && rb > 0, "SQLite runs one instance: each process leads its own ({ra}, {rb})");
    }
}

async fn deliveries(app: &crate::helpers::TestApp) -> usize {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let all = entente::platform::mail::model::delivery::Entity::find().count(&app.state.db).await.unwrap();
    all as usize
}
