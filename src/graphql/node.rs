//! The Relay Node interface and `node(id)`, over every domain's objects.
use async_graphql::{Context, Interface, Object, ID};

use super::support::*;
use crate::audit::graphql::AuditEntry;
use crate::auth::policy::Action;
use crate::directory::graphql::{Commune, Intercommunality, Mandate, Person, Territory};
use crate::error::AppResult;
use crate::ids::{self, Kind};
use crate::meetings::graphql::{self as m, AgendaItem, Body, BodySeat, Document, Meeting, MeetingRequest, Proxy};
use crate::platform::notify::graphql::Notification;
use crate::policies::graphql::{
    self as pol, Contribution, Policy, PolicyDocument, PolicySection, PolicyStep, PolicyVersion,
};
use crate::referrals::graphql::{self as r, Referral, ReferralDocument, ReferralResponse, SignatureDelegation};

// ---- Node ------------------------------------------------------------------------------

/// An object with a global ID (Relay "Node").
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global, opaque identifier."))]
pub enum Node {
    Commune(Commune),
    Intercommunality(Intercommunality),
    Territory(Territory),
    Person(Person),
    Mandate(Mandate),
    AuditEntry(AuditEntry),
    Body(Body),
    Meeting(Meeting),
    Referral(Referral),
    Notification(Notification),
    AgendaItem(AgendaItem),
    Document(Document),
    Proxy(Proxy),
    BodySeat(BodySeat),
    MeetingRequest(MeetingRequest),
    ReferralResponse(ReferralResponse),
    ReferralDocument(ReferralDocument),
    SignatureDelegation(SignatureDelegation),
    Policy(Policy),
    PolicySection(PolicySection),
    PolicyVersion(PolicyVersion),
    Contribution(Contribution),
    PolicyStep(PolicyStep),
    PolicyDocument(PolicyDocument),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by its global ID.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Node>> {
        allow(ctx, Action::Read).await?;
        let l = loaders(ctx)?;
        Ok(match ids::decode_any("id", &id)? {
            (Kind::Commune, n) => l.commune.load_one(n).await?.map(|m| Node::Commune(Commune(m))),
            (Kind::Intercommunality, n) => {
                l.intercommunality.load_one(n).await?.map(|m| Node::Intercommunality(Intercommunality(m)))
            }
            (Kind::Territory, n) => l.territory.load_one(n).await?.map(|m| Node::Territory(Territory(m))),
            (Kind::Person, n) => l.person.load_one(n).await?.map(|m| Node::Person(Person(m))),
            (Kind::Mandate, n) => l.mandate.load_one(n).await?.map(|m| Node::Mandate(Mandate::of(m))),
            (Kind::AuditEntry, n) => crate::audit::graphql::find_visible(ctx, n).await?.map(Node::AuditEntry),
            (Kind::Body, n) => {
                let db = &state(ctx)?.db;
                let directory = crate::meetings::service::directory(db, actor(ctx)?).await?;
                Some(Node::Body(Body::from(directory.body(db, n).await?)))
            }
            (Kind::Meeting, n) => {
                Some(Node::Meeting(Meeting::from(crate::meetings::graphql::visible_meeting(ctx, n).await?)))
            }
            (Kind::Referral, n) => {
                let (r, _) = crate::referrals::service::visible(&state(ctx)?.db, actor(ctx)?, n).await?;
                Some(Node::Referral(Referral::new(r)))
            }
            (Kind::Notification, n) => crate::platform::notify::inbox::own(&state(ctx)?.db, actor(ctx)?, n)
                .await?
                .map(|m| Node::Notification(Notification(m))),
            // Each with the checks of the path that reaches it.
            (Kind::AgendaItem, n) => m::agenda_item_node(ctx, n).await?.map(Node::AgendaItem),
            (Kind::Document, n) => m::document_node(ctx, n).await?.map(Node::Document),
            (Kind::Proxy, n) => m::proxy_node(ctx, n).await?.map(Node::Proxy),
            (Kind::BodySeat, n) => m::body_seat_node(ctx, n).await?.map(Node::BodySeat),
            (Kind::MeetingRequest, n) => m::meeting_request_node(ctx, n).await?.map(Node::MeetingRequest),
            (Kind::ReferralResponse, n) => r::response_node(ctx, n).await?.map(Node::ReferralResponse),
            // Null when the actor may not see them where they are listed.
            (Kind::ReferralDocument, n) => r::document_node(ctx, n).await?.map(Node::ReferralDocument),
            (Kind::SignatureDelegation, n) => {
                r::signature_delegation_node(ctx, n).await?.map(Node::SignatureDelegation)
            }
            (Kind::Policy, n) => pol::policy_node(ctx, n).await?.map(Node::Policy),
            (Kind::PolicySection, n) => pol::section_node(ctx, n).await?.map(Node::PolicySection),
            (Kind::PolicyVersion, n) => pol::version_node(ctx, n).await?.map(Node::PolicyVersion),
            (Kind::PolicyContribution, n) => pol::contribution_node(ctx, n).await?.map(Node::Contribution),
            (Kind::PolicyStep, n) => pol::step_node(ctx, n).await?.map(Node::PolicyStep),
            (Kind::PolicyDocument, n) => pol::document_node(ctx, n).await?.map(Node::PolicyDocument),
            // Read through the meeting, referral or policy it is about (`deliveries`).
            (Kind::Delivery, _) => None,
        })
    }
}
