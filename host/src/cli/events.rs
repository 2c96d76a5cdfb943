//! `rulehost events send` (events to a server over HTTP, or to NATS) and
//! `rulehost touches tail` (the outbox's feed, followed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{ServerArgs, emit, fatal, read, reply};
use crate::model::events::EventIn;

/// Sends a brand's events.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Send events from a file (NDJSON, a JSON array or one event; "-"
    /// reads stdin): to the server's events API, or with --nats to the
    /// tenant's NATS subject. Every line is checked first; a bad one is
    /// named and nothing is sent.
    Send(SendArgs),
}

/// `rulehost events send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The events.
    file: PathBuf,
    /// Publish to NATS at this URL (`<prefix>.events.<tenant>`, each with
    /// its event id as `Nats-Msg-Id`) instead of calling the server.
    #[arg(long)]
    nats: Option<String>,
    /// The NATS subjects' first token.
    #[arg(long, default_value = rulehost_stream::PREFIX)]
    nats_prefix: String,
    /// A NATS `.creds` file.
    #[arg(long)]
    nats_creds: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Events sent to the server per request.
const PER_REQUEST: usize = 1_000;

pub fn events(command: EventsCommand) -> ExitCode {
    let EventsCommand::Send(args) = command;
    let text = match read(&args.file) {
        Ok(text) => text,
        Err(e) => return fatal(e),
    };
    let events = match parse(&text) {
        Ok(events) => events,
        Err(e) => return fatal(format!("{}: {e}", args.file.display())),
    };
    match &args.nats {
        Some(url) => publish(&args, url, &events),
        None => post(&args, &events),
    }
}

/// The events of a file, each as the JSON sent and its id; a line (or
/// element) that is not an event is named.
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let one = |json: &str, place: &dyn Fn() -> String| -> Result<(String, String), String> {
        let event: EventIn = crate::model::parse_json(json.as_bytes()).map_err(|e| format!("{}{e}", place()))?;
        Ok((event.event_id, json.trim().to_owned()))
    };
    match text.trim_start().as_bytes().first() {
        Some(b'[') => {
            let values: Vec<Box<serde_json::value::RawValue>> =
                serde_json::from_str(text).map_err(|e| format!("not a JSON array of events: {e}"))?;
            values
                .iter()
                .enumerate()
                .map(|(i, v)| one(v.get(), &|| format!("events[{i}]")))
                .collect()
        }
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| one(l, &|| format!("line {}", n + 1)))
            .collect(),
    }
}

/// Sends the events to the server's events API, a request per thousand;
/// prints what was taken.
fn post(args: &SendArgs, events: &[(String, String)]) -> ExitCode {
    let client = args.server.client();
    let (mut taken, mut duplicates) = (0, 0);
    for chunk in events.chunks(PER_REQUEST) {
        let body = chunk
            .iter()
            .map(|(_, json)| json.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        match client.post_ndjson("/events", body) {
            Ok(r) if r.ok() => {
                taken += r.body["taken"].as_u64().unwrap_or(0);
                duplicates += r.body["duplicates"].as_u64().unwrap_or(0);
            }
            other => return reply(other),
        }
    }
    emit(&format!(
        "{}\n",
        serde_json::json!({"events": events.len(), "taken": taken, "duplicates": duplicates})
    ));
    ExitCode::SUCCESS
}

/// Publishes the events to NATS; prints how many JetStream stored (the
/// rest were duplicates within its window).
fn publish(args: &SendArgs, url: &str, events: &[(String, String)]) -> ExitCode {
    let settings = rulehost_stream::Settings {
        url: url.to_owned(),
        creds_file: args.nats_creds.clone(),
        prefix: args.nats_prefix.clone(),
        ..rulehost_stream::Settings::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fatal(format!("starting a runtime: {e}")),
    };
    let tenant = args.server.tenant.clone();
    let payloads: Vec<(String, bytes::Bytes)> = events
        .iter()
        .map(|(id, json)| (id.clone(), bytes::Bytes::from(json.clone())))
        .collect();
    let sent = runtime.block_on(async {
        let nats = rulehost_stream::Nats::connect(&settings, "rulehost events send").await?;
        let subject = nats.names().events(&tenant);
        nats.publish_events(&tenant, &payloads)
            .await
            .map(|stored| (stored, subject))
    });
    match sent {
        Ok((stored, subject)) => {
            emit(&format!(
                "{}\n",
                serde_json::json!({"events": events.len(), "published": stored,
                                   "duplicates": events.len() - stored, "subject": subject})
            ));
            ExitCode::SUCCESS
        }
        Err(e) => fatal(e.to_string()),
    }
}

/// Follows the outbox.
#[derive(Debug, Subcommand)]
pub enum TouchesCommand {
    /// Print the tenant's touches as they reach the outbox, one JSON line
    /// each (`{"cursor", "delivery"}`), from a cursor on; keeps following
    /// unless --no-follow.
    Tail(TailArgs),
}

/// `rulehost touches tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Start after this cursor (a `cursor` printed before) [default: from
    /// the start of what the outbox keeps].
    #[arg(long, default_value = "0")]
    after: String,
    /// Print what is there and stop.
    #[arg(long)]
    no_follow: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn touches(command: TouchesCommand) -> ExitCode {
    let TouchesCommand::Tail(args) = command;
    let client = args.server.client();
    let mut after = args.after.clone();
    let wait = if args.no_follow { 0 } else { 25 };
    loop {
        let page = match client.get(&format!("/touches?after={after}&limit=500&wait={wait}")) {
            Ok(r) if r.ok() => r.body,
            other => return reply(other),
        };
        let items = page["items"].as_array().cloned().unwrap_or_default();
        for item in &items {
            emit(&format!("{item}\n"));
        }
        if let Some(next) = page["next"].as_str() {
            after = next.to_owned();
        }
        if args.no_follow && items.is_empty() {
            return ExitCode::SUCCESS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_arrays_and_single_events_are_read_and_a_bad_line_is_named() {
        let line = r#"{"event_id":"e1","customer_id":"c","kind":"view","at":"2026-03-01T00:00:00Z"}"#;
        assert_eq!(parse(&format!("{line}\n\n{line}\n")).unwrap().len(), 2);
        assert_eq!(parse(&format!("[{line}, {line}]")).unwrap()[1].0, "e1");
        assert_eq!(parse(line).unwrap().len(), 1);
        let err = parse(&format!("{line}\n{{\"event_id\":\"e2\"}}")).unwrap_err();
        assert!(err.starts_with("line 2: missing field"), "{err}");
        let err = parse(&format!("[{line}, {{}}]")).unwrap_err();
        assert!(err.starts_with("events[1]"), "{err}");
    }
}
