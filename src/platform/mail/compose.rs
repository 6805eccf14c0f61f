//! What an e-mail says: a [`Draft`] per event (subject, paragraphs, the agenda, links, the
//! signature of the body and intercommunality, and for a convocation its calendar
//! invitation), read once per event from the outbox payload and the records it names,
//! then rendered per recipient in French as text and HTML by askama (the HTML escaped:
//! no user text goes out unescaped).
use askama::Template;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::error::{AppError, AppResult};
use crate::meetings::model::{agenda_item, body, document, meeting};
use crate::platform::notify::Event;
use crate::policies::model::policy;
use crate::referrals::model::referral;
use crate::territory::model::intercommunality;
use crate::time::{fr_datetime, fr_day};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub label: String,
    pub url: String,
}

/// One event's message, the same for every recipient but for the greeting.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub subject: String,
    pub paragraphs: Vec<String>,
    pub items_title: String,
    pub items: Vec<String>,
    pub links: Vec<Link>,
    /// The body and the intercommunality it is sent for.
    pub signature: String,
    /// A legal notice, sent whatever the person's preferences.
    pub legal: bool,
    /// An iCalendar invitation (RFC 6047): its method (REQUEST, CANCEL) and text.
    pub calendar: Option<(&'static str, String)>,
    /// A link made of this address and the recipient's secret (an invitation's, a
    /// password reset's), with its label.
    pub secret_link: Option<Link>,
    /// A convocation: each recipient's message carries its signed read-receipt link.
    pub receipt: bool,
}

impl Draft {
    /// The draft for one convocation's recipient: its read-receipt link first.
    pub fn with_receipt(&self, link: String) -> Draft {
        let mut d = self.clone();
        d.links.insert(0, Link { label: "Accuser réception de la convocation".into(), url: link });
        d
    }

    /// The draft for one recipient whose message carries `secret`.
    pub fn with_secret(&self, secret: &str) -> Draft {
        let mut d = self.clone();
        if let Some(l) = &d.secret_link {
            d.links.insert(0, Link { label: l.label.clone(), url: format!("{}{secret}", l.url) });
        }
        d
    }
}

#[derive(Template)]
#[template(path = "mail/letter.txt")]
struct TextLetter<'a> {
    name: &'a str,
    d: &'a Draft,
    legal: bool,
}

#[derive(Template)]
#[template(path = "mail/letter.html")]
struct HtmlLetter<'a> {
    name: &'a str,
    d: &'a Draft,
    legal: bool,
}

/// The text and HTML of a draft for one recipient.
pub fn render(d: &Draft, name: &str) -> AppResult<(String, String)> {
    let text = TextLetter { name, d, legal: d.legal }.render();
    let html = HtmlLetter { name, d, legal: d.legal }.render();
    match (text, html) {
        (Ok(t), Ok(h)) => Ok((t, h)),
        (Err(e), _) | (_, Err(e)) => Err(AppError::internal(format!("mail template: {e}"))),
    }
}

/// The whole message to one recipient; `digest_of` lists the subjects a digest gathers.
pub fn message(d: &Draft, from: &Mailbox, to: Mailbox, message_id: &str) -> Result<Message, String> {
    let name = to.name.clone().unwrap_or_default();
    let (text, html) = render(d, &name).map_err(|_| "the message could not be written".to_string())?;
    let mut alternative =
        MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html));
    if let Some((method, ics)) = &d.calendar {
        let kind = ContentType::parse(&format!("text/calendar; method={method}; charset=utf-8"))
            .map_err(|e| format!("calendar part: {e}"))?;
        alternative = alternative.singlepart(SinglePart::builder().header(kind).body(ics.clone()));
    }
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&d.subject)
        .message_id(Some(message_id.to_string()))
        .date_now()
        .multipart(alternative)
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// A digest: one message for the day's events of a person.
pub fn digest(drafts: &[&Draft]) -> Draft {
    let mut items: Vec<String> = drafts.iter().map(|d| d.subject.clone()).collect();
    items.dedup();
    Draft {
        subject: format!("Votre récapitulatif entente : {} nouvelle(s)", drafts.len()),
        paragraphs: vec!["Voici ce qui s'est passé depuis votre dernier récapitulatif.".into()],
        items_title: "Nouveautés".into(),
        items,
        links: Vec::new(),
        signature: drafts.first().map(|d| d.signature.clone()).unwrap_or_else(|| "entente".into()),
        legal: false,
        calendar: None,
        secret_link: None,
        receipt: false,
    }
}

async fn epci_name(db: &DatabaseConnection, id: Option<i32>) -> AppResult<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    Ok(intercommunality::Entity::find_by_id(id).one(db).await?.map(|e| e.name))
}

fn sign(parts: &[Option<&str>]) -> String {
    let parts: Vec<&str> = parts.iter().flatten().copied().collect();
    if parts.is_empty() {
        "entente".into()
    } else {
        parts.join(" — ")
    }
}

/// The draft of an event, read from the records it names (`public_url`: where links go).
pub async fn draft(db: &DatabaseConnection, public_url: &str, event: &Event) -> AppResult<Draft> {
    let base = public_url.trim_end_matches('/');
    let mut d = Draft {
        subject: event.message(),
        legal: event.kind().is_legal(),
        items_title: "Ordre du jour".into(),
        ..Draft::default()
    };
    match event {
        Event::AccountInvited { expires_at, .. } => {
            d.signature = "entente".into();
            d.paragraphs.push(
                "Vous êtes invité(e) à rejoindre entente, l'espace de travail de la conférence des maires et de ses communes."
                    .into(),
            );
            d.paragraphs.push(format!(
                "Choisissez votre mot de passe avec le lien ci-dessous ; il est personnel et fonctionne une fois, jusqu'au {}.",
                fr_datetime(*expires_at)
            ));
            // The secret goes in the fragment: never sent to a server, never in a log.
            d.secret_link =
                Some(Link { label: "Accepter l'invitation".into(), url: format!("{base}/invitation#token=") });
            return Ok(d);
        }
        Event::PasswordReset { expires_at, .. } => {
            d.signature = "entente".into();
            d.paragraphs.push(format!(
                "Une réinitialisation du mot de passe de votre compte a été demandée. Le lien ci-dessous fonctionne une fois, jusqu'au {}.",
                fr_datetime(*expires_at)
            ));
            d.paragraphs.push(
                "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe reste le même."
                    .into(),
            );
            d.secret_link = Some(Link {
                label: "Choisir un nouveau mot de passe".into(),
                url: format!("{base}/reset-password#token="),
            });
            return Ok(d);
        }
        _ => {}
    }
    let about = event.about();
    if let Some(id) = about.meeting {
        let Some(m) = meeting::Entity::find_by_id(id).one(db).await? else { return Ok(d) };
        let b = body::Entity::find_by_id(m.body_id).one(db).await?;
        let epci = epci_name(db, b.as_ref().map(|b| b.intercommunality_id)).await?;
        d.signature = sign(&[b.as_ref().map(|b| b.name.as_str()), epci.as_deref()]);
        let body_name = b.as_ref().map(|b| b.name.clone()).unwrap_or_default();
        let when = fr_datetime(m.starts_at);
        let place: Vec<&str> = [m.venue.as_deref()].into_iter().flatten().collect();
        let place = if place.is_empty() { String::new() } else { format!(", {}", place.join(", ")) };
        match event {
            Event::MeetingConvened { .. } => {
                d.paragraphs.push(format!(
                    "Vous êtes convoqué(e) à la séance « {} » de {body_name}, le {when}{place}.",
                    m.title
                ));
                if let Some(r) = &m.urgency_reason {
                    d.paragraphs.push(format!("Convocation en urgence : {r}"));
                }
                if let Some(u) = &m.online_url {
                    d.links.push(Link { label: "Participer à distance".into(), url: u.clone() });
                }
                d.paragraphs.push(
                    "Cette convocation vous est adressée par voie électronique (article L2121-10 du code général des collectivités territoriales). L'invitation jointe l'ajoute à votre agenda."
                        .into(),
                );
                let items = agenda_item::Entity::find()
                    .filter(agenda_item::Column::MeetingId.eq(id))
                    .order_by_asc(agenda_item::Column::Position)
                    .all(db)
                    .await?;
                d.items = items
                    .into_iter()
                    .map(|i| match i.note {
                        Some(n) => format!("{} — note explicative de synthèse : {n}", i.title),
                        None => i.title,
                    })
                    .collect();
                let docs = document::Entity::find()
                    .filter(document::Column::MeetingId.eq(id))
                    .order_by_asc(document::Column::Id)
                    .all(db)
                    .await?;
                d.links.extend(
                    docs.into_iter()
                        .map(|doc| Link { label: doc.filename, url: format!("{base}/documents/{}", doc.id) }),
                );
                d.links.push(Link {
                    label: "Ajouter à mon agenda".into(),
                    url: format!("{base}/meetings/{id}/calendar.ics"),
                });
                d.calendar = Some(("REQUEST", crate::meetings::calendar::invitation(db, m, "REQUEST").await?));
                d.receipt = true;
            }
            Event::MeetingCancelled { reason, .. } => {
                d.paragraphs.push(format!("La séance « {} » de {body_name} prévue le {when} est annulée.", m.title));
                if let Some(r) = reason {
                    d.paragraphs.push(format!("Motif : {r}"));
                }
                d.calendar = Some(("CANCEL", crate::meetings::calendar::invitation(db, m, "CANCEL").await?));
            }
            Event::MeetingPostponed { reason, .. } => {
                d.paragraphs.push(format!(
                    "La séance « {} » de {body_name} est reportée ; une nouvelle convocation vous sera adressée.",
                    m.title
                ));
                if let Some(r) = reason {
                    d.paragraphs.push(format!("Motif : {r}"));
                }
            }
            Event::OpinionAdopted { item, title, .. } => {
                d.paragraphs.push(format!(
                    "La conférence des maires a adopté son avis sur « {title} » lors de la séance du {when} (article L5211-40-2 du code général des collectivités territoriales)."
                ));
                if let Some(i) = agenda_item::Entity::find_by_id(*item).one(db).await? {
                    if let Some(text) = i.opinion_text {
                        d.paragraphs.push(text);
                    }
                }
            }
            _ => d.paragraphs.push(format!("{} (séance « {} » du {when}).", event.message(), m.title)),
        }
        return Ok(d);
    }
    if let Some(id) = about.referral {
        let Some(r) = referral::Entity::find_by_id(id).one(db).await? else { return Ok(d) };
        let epci = epci_name(db, r.intercommunality_id).await?;
        d.signature = sign(&[epci.as_deref()]);
        d.paragraphs.push(event.message());
        if let Some(day) = r.deadline_date {
            d.paragraphs.push(format!("Date limite de réponse : {} à 23 h 59 (heure de Paris).", fr_day(day)));
        }
        if matches!(event, Event::ReferralOpened { .. }) {
            if let Some(desc) = r.description {
                d.paragraphs.push(desc);
            }
            d.paragraphs.push(format!("Fondement juridique : {}.", r.legal_basis));
        }
        return Ok(d);
    }
    if let Some(id) = about.policy {
        let Some(p) = policy::Entity::find_by_id(id).one(db).await? else { return Ok(d) };
        let epci = epci_name(db, Some(p.intercommunality_id)).await?;
        let team = match p.drafting_body_id {
            Some(b) => body::Entity::find_by_id(b).one(db).await?.map(|b| b.name),
            None => None,
        };
        d.signature = sign(&[team.as_deref(), epci.as_deref()]);
        d.paragraphs.push(event.message());
        d.paragraphs.push(p.summary);
    }
    Ok(d)
}
