//! Built for `wasm32-wasip2`, so the standard library links WASI. Its tags
//! report what the sandbox let it see: the clock, environment variables,
//! the filesystem, the network and randomness. It also prints to stdout.

use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};

/// Reports what WASI shows it.
#[derive(Default)]
pub struct WasiProbe;

fn tag(group: &str, name: impl Into<String>) -> Tag {
    Tag::new(group, name).rule("probe").reason("what the sandbox showed")
}

impl Plugin for WasiProbe {
    fn tag(&self, _ctx: &Ctx<'_>, _profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        println!("hello from the probe's stdout");
        eprintln!("and from its stderr");
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_else(|_| "before-epoch".into());
        let env = std::env::vars().count();
        let args = std::env::args().count();
        let fs = match std::fs::read_dir("/") {
            Ok(_) => "readable",
            Err(_) => "denied",
        };
        let file = match std::fs::File::open("/etc/passwd") {
            Ok(_) => "readable",
            Err(_) => "denied",
        };
        let net = match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => "connected",
            Err(_) => "denied",
        };
        let random = RandomState::new().hash_one(42u64);
        Ok(vec![
            tag("clock", clock),
            tag("env", env.to_string()),
            tag("args", args.to_string()),
            tag("fs-root", fs),
            tag("fs-file", file),
            tag("net", net),
            tag("random", random.to_string()),
        ])
    }
}

rulehost_sdk::export!(WasiProbe);
