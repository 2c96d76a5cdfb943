//! The book (`docs/src`), built into the binary and rendered as the server
//! serves it at [`PATH`]: the console's help links open the chapter of the
//! version that runs, with no site to host and no mdBook at run time.
//!
//! The pages are the Markdown mdBook builds the full book from (search,
//! themes and print are mdBook's: `mdbook build docs`). Headings get
//! mdBook's ids ([`heading_id`]), so a link to `page.md#heading` works in
//! both, and `{{#include FILE}}` / `{{#include FILE:ANCHOR}}` lines are
//! replaced by the file (or the part between `ANCHOR: name` and
//! `ANCHOR_END: name`) as mdBook does.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// Where the server serves the book.
pub const PATH: &str = "/book/";

/// A page of `docs/src`, by its path there.
macro_rules! page {
    ($path:literal) => {
        ($path, include_str!(concat!("../../docs/src/", $path)))
    };
}

/// Every page of the book: its path under `docs/src` and its Markdown.
/// (The test `book::` checks that this is every file of `docs/src`.)
pub const PAGES: &[(&str, &str)] = &[
    page!("SUMMARY.md"),
    page!("introduction.md"),
    page!("getting-started.md"),
    page!("roadmap.md"),
    page!("api.md"),
    page!("plugins/README.md"),
    page!("plugins/rust.md"),
    page!("plugins/typescript.md"),
    page!("plugins/python.md"),
    page!("plugins/limits.md"),
    page!("plugins/fixtures.md"),
    page!("plugins/check.md"),
    page!("running/server.md"),
    page!("running/settings.md"),
    page!("running/console.md"),
    page!("running/events.md"),
    page!("running/fleet.md"),
    page!("running/metrics.md"),
    page!("running/upgrades.md"),
    page!("decisions/pipeline.md"),
    page!("decisions/contact-policy.md"),
    page!("decisions/before-live.md"),
    page!("reference/limits.md"),
    page!("reference/json.md"),
    page!("reference/binary-layout.md"),
    page!("how-it-works/layout.md"),
    page!("how-it-works/sandbox.md"),
    page!("how-it-works/cores.md"),
    page!("how-it-works/reliability.md"),
    page!("benchmarks/README.md"),
    page!("benchmarks/languages.md"),
    page!("benchmarks/reliability.md"),
];

/// The files pages include from outside `docs/src`, by their path from the
/// repository's root.
const INCLUDED: &[(&str, &str)] = &[
    ("BENCHMARKS.md", include_str!("../../BENCHMARKS.md")),
    ("RELIABILITY.md", include_str!("../../RELIABILITY.md")),
    (
        "sdk/examples/coffee_trimmed.rs",
        include_str!("../../sdk/examples/coffee_trimmed.rs"),
    ),
];

/// The page the book opens on.
pub const FIRST: &str = "introduction.md";

/// mdBook's id of a heading whose text is `text`: lower case, spaces as
/// `-`, only letters, digits, `-` and `_` kept. (A repeated heading gets
/// `-1`, `-2`… after it: see [`heading_ids`].)
pub fn heading_id(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The ids of a Markdown text's headings, in order, as mdBook gives them
/// (an explicit `{#id}` kept, a repeated id numbered).
pub fn heading_ids(markdown: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Heading { id: Some(id), .. }) => {
                ids.push(id.to_string());
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = heading.take() {
                    let id = heading_id(&h);
                    let repeats = seen.iter().filter(|s| **s == id).count();
                    ids.push(if repeats == 0 {
                        id.clone()
                    } else {
                        format!("{id}-{repeats}")
                    });
                    seen.push(id);
                }
            }
            _ => {}
        }
    }
    ids
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// `base` (a folder, `/`-separated) joined with the relative `path`.
fn join(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The part of `text` between `ANCHOR: name` and `ANCHOR_END: name`, with
/// every anchor line left out.
fn anchored(text: &str, name: &str) -> Option<String> {
    let start = format!("ANCHOR: {name}");
    let end = format!("ANCHOR_END: {name}");
    let mut inside = false;
    let mut found = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.contains(&start) {
            inside = true;
            found = true;
        } else if line.contains(&end) {
            inside = false;
        } else if inside && !line.contains("ANCHOR") {
            out.push_str(line);
            out.push('\n');
        }
    }
    found.then_some(out)
}

/// A page's Markdown with its includes replaced, or `None` for a path
/// that is not a page.
pub fn markdown(path: &str) -> Option<String> {
    let (_, text) = PAGES.iter().find(|(p, _)| *p == path)?;
    let folder = path.rsplit_once('/').map_or("", |(folder, _)| folder);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let include = line
            .trim()
            .strip_prefix("{{#include ")
            .and_then(|l| l.strip_suffix("}}"));
        match include {
            Some(target) => {
                let (file, anchor) = target.trim().split_once(':').unwrap_or((target.trim(), ""));
                let from_root = join(&format!("docs/src/{folder}"), file);
                let body = INCLUDED
                    .iter()
                    .chain(PAGES)
                    .find(|(p, _)| *p == from_root || format!("docs/src/{p}") == from_root)
                    .map(|(_, body)| *body)?;
                if anchor.is_empty() {
                    out.push_str(body);
                } else {
                    out.push_str(&anchored(body, anchor)?);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Some(out)
}

/// Markdown as HTML, headings with their ids; `rebase` rewrites a link's
/// destination.
fn to_html(markdown: &str, rebase: impl Fn(&str) -> Option<String>) -> String {
    let mut ids = heading_ids(markdown).into_iter();
    let events = Parser::new_ext(markdown, options()).map(|event| match event {
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level,
            id: ids.next().map(CowStr::from).or(id),
            classes,
            attrs,
        }),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: rebase(&dest_url).map(CowStr::from).unwrap_or(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// The page at `path` as a whole HTML document (the book's contents beside
/// it), or `None` for a path that is not a page.
pub fn page(path: &str) -> Option<String> {
    let text = markdown(path)?;
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or("rulehost")
        .replace(['<', '>', '&', '"'], "");
    let body = to_html(&text, |_| None);
    // The contents' links are from the book's root: made absolute, so they
    // hold on a page in any folder.
    let contents = markdown("SUMMARY.md").map_or_else(String::new, |summary| {
        to_html(&summary, |dest| {
            (!dest.contains("://")).then(|| format!("{PATH}{}", dest.trim_start_matches("./")))
        })
    });
    Some(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — rulehost</title><link rel=\"stylesheet\" href=\"{PATH}book.css\"></head>\
         <body><nav aria-label=\"Contents\">{contents}</nav><main>{body}</main></body></html>\n"
    ))
}

/// The pages' style sheet.
pub const CSS: &str = include_str!("book.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_mdbooks() {
        assert_eq!(
            heading_id("The 0.2.0 binary layout (`layout/`, revision 1)"),
            "the-020-binary-layout-layout-revision-1"
        );
        assert_eq!(heading_ids("# A\n## A\n## B {#own}\n"), ["a", "a-1", "own"]);
    }

    #[test]
    fn every_page_renders_with_its_includes_and_heading_ids() {
        for (path, _) in PAGES {
            let html = page(path).unwrap_or_else(|| panic!("{path} renders"));
            assert!(!html.contains(">{{#include "), "{path} keeps an include");
        }
        let rust = page("plugins/rust.md").expect("the Rust page");
        assert!(rust.contains("impl Plugin for CoffeeChain"), "the example is included");
        assert!(!rust.contains("ANCHOR"), "anchor lines are left out");
        let benchmarks = page("benchmarks/README.md").expect("benchmarks");
        assert!(benchmarks.contains("<h1 id=\"benchmarks\">"), "{}", &benchmarks[..400]);
        assert!(page("nothing.md").is_none());
        // The contents link from the root on every page.
        assert!(rust.contains("href=\"/book/plugins/python.md\""));
        // A link between chapters stays relative: the browser resolves it.
        assert!(
            page("getting-started.md")
                .expect("a page")
                .contains("href=\"running/console.md\"")
        );
    }
}
