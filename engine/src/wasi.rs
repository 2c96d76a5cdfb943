//! The locked-down WASI context for plugins from toolchains that link WASI.
//!
//! Such a plugin sees no files (no preopens), no network, no environment
//! variables and no arguments; its clocks are frozen at the decision's `now`
//! and its randomness is a fixed stream derived from the decision's seed, so
//! the same input still gives the same output. Stdout and stderr are
//! captured up to a bound; anything past it is dropped, not an error, since
//! language runtimes print on their own.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::state::StoreState;

/// WASI state of one decision.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl WasiState {
    fn new(seed: u64, now_ms: i64, stdio_bytes: usize) -> Self {
        let stdout = Capture::new(stdio_bytes);
        let stderr = Capture::new(stdio_bytes);
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenClock { now_ms })
            .monotonic_clock(FrozenClock { now_ms })
            .secure_random(Deterministic::new(random_stream(seed, b"secure")))
            .insecure_random(Deterministic::new(random_stream(seed, b"insecure")))
            .insecure_random_seed(u128::from(seed))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        if !self.wasi_users.contains(&self.current) {
            self.wasi_users.push(self.current.clone());
        }
        let (seed, now_ms, stdio_bytes) = (self.seed, self.now_ms, self.output.stdio_bytes);
        let wasi = self
            .wasi
            .get_or_insert_with(|| WasiState::new(seed, now_ms, stdio_bytes));
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// 256 bytes derived from the seed, repeated: deterministic, and different
/// for every seed.
fn random_stream(seed: u64, label: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut block = Sha256::new()
        .chain_update(label)
        .chain_update(seed.to_le_bytes())
        .finalize();
    while out.len() < 256 {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out
}

/// Both clocks read the decision's `now` and never move.
struct FrozenClock {
    now_ms: i64,
}

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.now_ms).unwrap_or(0))
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        u64::try_from(self.now_ms).unwrap_or(0).saturating_mul(1_000_000)
    }
}

/// A bounded in-memory stdout or stderr.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    limit: usize,
    dropped: usize,
}

impl Capture {
    fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Captured {
                limit,
                ..Captured::default()
            })),
        }
    }

    fn append(&self, data: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = c.limit.saturating_sub(c.bytes.len());
        let kept = room.min(data.len());
        c.bytes.extend_from_slice(&data[..kept]);
        c.dropped += data.len() - kept;
    }

    /// The captured text, with a note of how much was dropped.
    pub(crate) fn text(&self) -> Option<String> {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.bytes.is_empty() {
            return None;
        }
        let mut text = String::from_utf8_lossy(&c.bytes).into_owned();
        if c.dropped > 0 {
            text.push_str(&format!(" [{} more bytes dropped]", c.dropped));
        }
        Some(text)
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
