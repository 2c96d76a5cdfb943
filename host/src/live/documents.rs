//! The tenant's documents (config, offers, contact policy, triggers) and
//! the deliveries recorded into its contact ledger.

use super::{Caller, Live, LiveError, Result};
use crate::model::triggers::Triggers;
use crate::model::{Offer, OfferClass, TenantConfig, Timestamp};
use crate::policy::Policy;
use crate::registry::{RegistryError, TouchRecord};

impl Live {
    /// Replaces the tenant's config.
    pub async fn put_config(&self, caller: &Caller, tenant: &str, config: TenantConfig) -> Result<i64> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_config(&actor, &t, &config)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Replaces the tenant's offer catalog, after checking it as decisions
    /// would (unique ids, sane windows).
    pub async fn put_offers(&self, caller: &Caller, tenant: &str, offers: Vec<Offer>) -> Result<i64> {
        check_offers(&offers)?;
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_offers(&actor, &t, &offers)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Replaces the tenant's contact policy.
    pub async fn put_policy(&self, caller: &Caller, tenant: &str, policy: Policy) -> Result<i64> {
        policy
            .check()
            .map_err(|e| LiveError::Registry(RegistryError::Invalid(format!("policy.{e}"))))?;
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_policy(&actor, &t, &policy)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Replaces the tenant's triggers.
    pub async fn put_triggers(&self, caller: &Caller, tenant: &str, triggers: Triggers) -> Result<i64> {
        triggers
            .check()
            .map_err(|e| LiveError::Registry(RegistryError::Invalid(format!("triggers.{e}"))))?;
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_triggers(&actor, &t, &triggers)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Records deliveries in the contact ledger; a touch id seen before
    /// changes nothing. A touch without a class takes its offer's class from
    /// the catalog (marketing if the offer is unknown).
    pub async fn record_touches(&self, tenant: &str, touches: Vec<NewTouch>) -> Result<(usize, usize)> {
        let snapshot = self.snapshot(tenant)?;
        let now = Timestamp::now();
        let mut records = Vec::with_capacity(touches.len());
        for (i, t) in touches.into_iter().enumerate() {
            for (field, value) in [
                ("id", &t.id),
                ("customer_id", &t.customer_id),
                ("offer_id", &t.offer_id),
                ("channel", &t.channel),
            ] {
                if value.is_empty() || value.chars().count() > 256 {
                    return Err(LiveError::Registry(RegistryError::Invalid(format!(
                        "touches[{i}].{field} must be 1-256 characters"
                    ))));
                }
            }
            let class = t.class.unwrap_or_else(|| {
                snapshot
                    .offers
                    .iter()
                    .find(|o| o.id == t.offer_id)
                    .map_or(OfferClass::Marketing, |o| o.class)
            });
            records.push(TouchRecord {
                id: t.id,
                customer_id: t.customer_id,
                offer_id: t.offer_id,
                channel: t.channel,
                class,
                at: t.at.unwrap_or(now),
                decision_id: None,
            });
        }
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.record_touches(&tenant, &records)).await
    }
}

/// A delivery to record through the touches API.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTouch {
    /// Unique per tenant: recording the same id again changes nothing.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub id: String,
    /// The customer.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub customer_id: String,
    /// The offer.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub offer_id: String,
    /// The channel it went out on.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub channel: String,
    /// When it was delivered (default: now).
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// The offer's class (default: the catalog's class for the offer).
    #[serde(default)]
    pub class: Option<OfferClass>,
}

pub(super) fn check_tz(tz: i32) -> Result<()> {
    if (-18 * 60..=18 * 60).contains(&tz) {
        Ok(())
    } else {
        Err(LiveError::Registry(RegistryError::Invalid(format!(
            "tz_offset_minutes is {tz}; it must be within ±1080 (±18 hours)"
        ))))
    }
}

pub(super) fn check_offers(offers: &[Offer]) -> Result<()> {
    // The same checks a decision makes, applied when the catalog is stored.
    crate::input::write_offers(
        offers,
        &crate::input::InputLimits::default(),
        &mut rulehost_layout::input::InputWriter::default(),
    )
    .map_err(crate::Error::from)?;
    Ok(())
}
