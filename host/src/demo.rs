//! The demo tenants of `rulehost serve --demo`: a coffee chain and a fashion
//! brand, each running its example plugin (built into this binary) with the
//! sample config and offers, and a documented key.

use crate::live::{Caller, Live, LiveError};
use crate::model::{self, Offer, TenantConfig};
use crate::registry::{RegistryError, Tenant, TenantLimits};

/// The operator token `--demo` uses when none is configured.
pub const OPERATOR_TOKEN: &str = "demo-operator-token";

/// A demo tenant.
pub struct DemoTenant {
    /// Tenant id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// The plugin's name.
    pub plugin: &'static str,
    /// The component.
    wasm: &'static [u8],
    config: &'static str,
    offers: &'static str,
    key_id: &'static str,
    key_secret: &'static str,
}

impl DemoTenant {
    /// The tenant's documented API key.
    pub fn key(&self) -> String {
        format!("rh_{}_{}", self.key_id, self.key_secret)
    }
}

/// The demo tenants.
pub const TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        id: "coffee",
        name: "Demo coffee chain",
        plugin: "coffee-chain",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/coffee-chain.wasm")),
        config: include_str!("../../plugins/coffee-chain/sample/config.json"),
        offers: include_str!("../../plugins/coffee-chain/sample/offers.json"),
        key_id: "coffeedemo",
        key_secret: "demo-secret-coffee",
    },
    DemoTenant {
        id: "apparel",
        name: "Demo fashion brand",
        plugin: "apparel-rfm",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/apparel-rfm.wasm")),
        config: include_str!("../../plugins/apparel-rfm/sample/config.json"),
        offers: include_str!("../../plugins/apparel-rfm/sample/offers.json"),
        key_id: "appareldemo",
        key_secret: "demo-secret-apparel",
    },
];

/// The built-in component of the coffee demo plugin (tests use it too).
pub fn coffee_chain_wasm() -> &'static [u8] {
    TENANTS[0].wasm
}

/// Creates whatever of the demo tenants is missing; an existing tenant is
/// left as it is, so a restart keeps the user's changes.
pub async fn ensure(live: &Live) -> Result<(), LiveError> {
    let caller = Caller::Operator;
    for demo in &TENANTS {
        match live.tenant(demo.id).await {
            Ok(_) => continue,
            Err(LiveError::Registry(RegistryError::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
        let tenant = Tenant {
            id: demo.id.into(),
            name: demo.name.into(),
            tz_offset_minutes: 480,
            disabled: false,
            limits: TenantLimits::default(),
            created_at: model::Timestamp(0),
        };
        tracing::info!(tenant = demo.id, plugin = demo.plugin, "setting up a demo tenant");
        match live.create_tenant(&caller, tenant, None).await {
            Ok(_) => {}
            // Another host of a fleet is setting it up.
            Err(LiveError::Registry(RegistryError::Conflict(_))) => continue,
            Err(e) => return Err(e),
        }
        let config: TenantConfig = model::from_json("demo config", demo.config)?;
        let offers: Vec<Offer> = model::from_json("demo offers", demo.offers)?;
        live.put_config(&caller, demo.id, config).await?;
        live.put_offers(&caller, demo.id, offers).await?;
        // The demo's own plugins are never refused for their compile time.
        let (version, _) = live.upload_shipped(demo.id, demo.wasm.to_vec()).await?;
        live.set_pipeline(&caller, demo.id, vec!["main".into()]).await?;
        live.activate(&caller, demo.id, "main", &version.name, &version.version)
            .await?;
        live.insert_key(demo.id, "demo key", demo.key_id, demo.key_secret)
            .await?;
    }
    Ok(())
}
