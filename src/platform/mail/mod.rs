//! E-mail (issue 16): what the outbox records reaches people.
//!
//! [`enqueue`] writes one `delivery` row per (event, recipient) in the transaction of the
//! change, beside its in-app notification, so a message exists exactly when its change
//! committed. [`drain`] sends them: a round claims due rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several instances share the queue and never take the same row), marks
//! them SENDING with a lease, sends each (paced, a few at once), and records the outcome
//! at once: SENT with the server's answer, the Message-ID and the time the server
//! accepted it; back to QUEUED with a doubling wait after a temporary failure (4xx, no
//! connection); FAILED on a permanent one (5xx) or after the last attempt.
//!
//! One message per (event, recipient): the unique row is the message, and a row is sent
//! again only when a round held it past its lease without recording an answer (the
//! process stopped between the server's acceptance and the record, a window of a few
//! milliseconds); the Message-ID is the row's own, so such a copy carries the same
//! Message-ID and mail clients show it once.
//!
//! Without an SMTP server (the demo, a laptop), messages are written as .eml files to a
//! folder; [`compose`] writes them, in French, as text and HTML.
pub mod compose;
pub mod drain;
pub mod enqueue;
pub mod graphql;
pub mod model;
pub mod receipt;

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

/// Where messages go.
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// .eml files in this folder.
    Folder(PathBuf),
}

/// The answer to one sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted, with the server's answer (or the file written).
    Accepted(String),
    /// Refused for now (4xx, no connection, a timeout): tried again later.
    Temporary(String),
    /// Refused for good (5xx, an address the server will never take).
    Permanent(String),
}

pub struct Mailer {
    /// The key receipt links are signed with (`receipt::ensure_key`).
    pub receipt_key: Vec<u8>,
    pub transport: Transport,
    pub from: Mailbox,
    /// The domain of Message-IDs (the From address's).
    pub domain: String,
    pub config: MailConfig,
}

impl Mailer {
    pub fn new(config: &MailConfig, receipt_key: &[u8]) -> anyhow::Result<Mailer> {
        let from: Mailbox =
            config.from.parse().map_err(|e| anyhow::anyhow!("--mail-from {:?} is not an address: {e}", config.from))?;
        let domain = from.email.domain().to_string();
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("--smtp-url is not usable: {e}"))?
                    .timeout(Some(std::time::Duration::from_secs(30)))
                    // A connection per message sent at once, kept for the next ones.
                    .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(config.concurrency.max(1) as u32))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&config.dir)
                    .map_err(|e| anyhow::anyhow!("mail folder {}: {e}", config.dir.display()))?;
                Transport::Folder(config.dir.clone())
            }
        };
        Ok(Mailer { receipt_key: receipt_key.to_vec(), transport, from, domain, config: config.clone() })
    }

    /// Sends one message; `name` names its file in the folder.
    pub async fn send(&self, message: Message, name: &str) -> Outcome {
        match &self.transport {
            Transport::Smtp(t) => match t.send(message).await {
                Ok(r) => Outcome::Accepted(format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))),
                Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
                Err(e) => Outcome::Temporary(e.to_string()),
            },
            Transport::Folder(dir) => {
                let path = dir.join(format!("{name}.eml"));
                let part = dir.join(format!(".{name}.eml.part"));
                let written = async {
                    tokio::fs::write(&part, message.formatted()).await?;
                    tokio::fs::rename(&part, &path).await
                }
                .await;
                match written {
                    Ok(()) => Outcome::Accepted(format!("written to {}", path.display())),
                    Err(e) => Outcome::Temporary(format!("could not write {}: {e}", path.display())),
                }
            }
        }
    }
}
