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
    triggers: &'static str,
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
        triggers: include_str!("../../plugins/coffee-chain/sample/triggers.json"),
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
        triggers: include_str!("../../plugins/apparel-rfm/sample/triggers.json"),
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
            Ok(_) => {
                // A data directory set up before triggers existed gets them.
                let registry = live.registry().clone();
                let set =
                    tokio::task::spawn_blocking(move || registry.triggers(demo.id).map(|(version, _)| version > 0))
                        .await
                        .map_err(|e| LiveError::Internal(format!("reading the demo triggers: {e}")))??;
                if !set {
                    live.put_triggers(&caller, demo.id, model::from_json("demo triggers", demo.triggers)?)
                        .await?;
                }
                continue;
            }
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
        live.put_triggers(&caller, demo.id, model::from_json("demo triggers", demo.triggers)?)
            .await?;
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

/// The stored profile set `serve --demo` gives the coffee tenant, so the
/// console's simulation page has customers to run a candidate over.
pub const CUSTOMERS_SET: &str = "coffee-customers";

/// Stores [`CUSTOMERS_SET`]: `customers` generated coffee customers (seed
/// 1), each line a decide request at the generator's instant, unless the
/// coffee tenant has the set already. Runs after the server is ready, off
/// the request path; a failure is logged, not fatal (the demo works
/// without it).
pub async fn store_customers(live: std::sync::Arc<Live>, customers: u64) {
    let tenant = TENANTS[0].id;
    match live.profile_sets(tenant).await {
        Ok(sets) if sets.iter().any(|s| s.name == CUSTOMERS_SET) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "could not list the demo tenant's profile sets; the demo customers are not stored");
            return;
        }
    }
    let started = std::time::Instant::now();
    let lines = GeneratedLines::new(usize::try_from(customers).unwrap_or(usize::MAX));
    match live
        .put_profile_set(&Caller::Operator, tenant, CUSTOMERS_SET, lines)
        .await
    {
        Ok(set) => tracing::info!(
            tenant,
            set = CUSTOMERS_SET,
            customers = set.customers,
            bytes = set.bytes,
            seconds = started.elapsed().as_secs_f64(),
            "stored the demo customers for simulations"
        ),
        // Another host of a fleet stored it meanwhile.
        Err(LiveError::Registry(RegistryError::Conflict(_))) => {}
        Err(e) => tracing::error!(error = %e, "storing the demo customers failed; the demo works without them"),
    }
}

/// Generated customers as NDJSON decide requests, made as they are read.
struct GeneratedLines {
    profiles: Box<dyn Iterator<Item = serde_json::Value> + Send>,
    now: serde_json::Value,
    line: Vec<u8>,
    at: usize,
}

impl GeneratedLines {
    fn new(customers: usize) -> Self {
        let now = model::Timestamp::parse(crate::generate::DEFAULT_NOW).expect("the generator's instant parses");
        Self {
            profiles: Box::new(crate::generate::profiles(
                crate::generate::Brand::Coffee,
                customers,
                1,
                now,
            )),
            now: serde_json::Value::String(crate::generate::DEFAULT_NOW.to_owned()),
            line: Vec::new(),
            at: 0,
        }
    }
}

impl std::io::Read for GeneratedLines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = std::io::BufRead::fill_buf(self)?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl std::io::BufRead for GeneratedLines {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.line.len() {
            self.line.clear();
            self.at = 0;
            if let Some(profile) = self.profiles.next() {
                let request = serde_json::json!({ "now": self.now, "profile": profile });
                serde_json::to_writer(&mut self.line, &request).map_err(std::io::Error::other)?;
                self.line.push(b'\n');
            }
        }
        Ok(&self.line[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.line.len());
    }
}
