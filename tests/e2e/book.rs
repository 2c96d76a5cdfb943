//! The book (`docs/`) cannot go stale: every link between its pages (and
//! from the README into it) resolves, every Rust block is code the
//! workspace compiles, and every `console` example of the how-to chapters
//! runs against a real demo server and prints what the page says.
//!
//! A `console` block holds commands after `$ ` (a line ending in `\` goes
//! on) and, below each, what it prints: `...` on a line of its own stands
//! for any number of lines, `[..]` for any text within a line (the syntax
//! of `trycmd`). The commands of one page run in order in one shell, in a
//! directory where the repository's files are seen as they are from its
//! root, and each must exit 0. `cargo run -q -p rulehost --` runs the
//! binary under test, and `http://127.0.0.1:8080` is the test's demo
//! server (no demo customers generated); other `127.0.0.1:808N` addresses
//! become free ports, servers a page starts are stopped when it ends, and a
//! page that starts servers or names `RULEHOST_DATABASE_URL` gets a
//! throwaway PostgreSQL database there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use crate::serve::ChildServer;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

fn book() -> PathBuf {
    root().join("docs/src")
}

/// Every Markdown file under `dir`.
fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a book folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            markdown_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// A chapter's text with its `{{#include FILE}}` lines replaced by the
/// file, as mdBook renders it.
fn rendered(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            match line
                .trim()
                .strip_prefix("{{#include ")
                .and_then(|l| l.strip_suffix("}}"))
            {
                Some(file) => {
                    // `FILE:ANCHOR` includes a part of the file; its links are the file's.
                    let file = file.trim().split(':').next().unwrap_or_default();
                    let included = path.parent().expect("a folder").join(file);
                    std::fs::read_to_string(&included)
                        .unwrap_or_else(|e| panic!("{} includes {}: {e}", path.display(), included.display()))
                }
                None => format!("{line}\n"),
            }
        })
        .collect()
}

/// The ids mdBook gives a text's headings.
fn heading_ids(text: &str) -> BTreeSet<String> {
    rulehost_book::heading_ids(text).into_iter().collect()
}

/// The links of a Markdown text (destinations as written).
fn links(text: &str) -> Vec<String> {
    Parser::new_ext(text, Options::all())
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => Some(dest_url.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_of_the_book_and_the_readme_resolves_and_every_chapter_is_in_the_summary() {
    let book = book();
    let mut chapters = Vec::new();
    markdown_under(&book, &mut chapters);
    let mut pages: Vec<PathBuf> = chapters.clone();
    pages.extend(["README.md", "BENCHMARKS.md", "RELIABILITY.md"].map(|f| root().join(f)));

    let mut broken = Vec::new();
    for page in &pages {
        let in_book = page.starts_with(&book);
        let text = rendered(page);
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a folder").join(file)
            };
            let Ok(target) = target.canonicalize() else {
                broken.push(format!("{}: {link}: no such file", page.display()));
                continue;
            };
            if in_book && !target.starts_with(book.canonicalize().expect("the book")) {
                broken.push(format!(
                    "{}: {link}: leaves the book (a rendered page cannot follow it; name the path in code instead)",
                    page.display()
                ));
                continue;
            }
            if !fragment.is_empty() {
                if target.extension().is_none_or(|e| e != "md") {
                    broken.push(format!(
                        "{}: {link}: a fragment of a file that is not a page",
                        page.display()
                    ));
                } else if !heading_ids(&rendered(&target)).contains(fragment) {
                    broken.push(format!("{}: {link}: no heading #{fragment} there", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    // The summary lists every chapter, and every chapter it lists exists.
    let summary = book.join("SUMMARY.md");
    let listed: BTreeSet<PathBuf> = links(&std::fs::read_to_string(&summary).expect("SUMMARY.md"))
        .iter()
        .map(|l| book.join(l))
        .collect();
    let unlisted: Vec<_> = chapters
        .iter()
        .filter(|c| **c != summary && !listed.contains(*c))
        .map(|c| c.display().to_string())
        .collect();
    assert!(unlisted.is_empty(), "chapters missing from SUMMARY.md: {unlisted:?}");
    let missing: Vec<_> = listed.iter().filter(|l| !l.exists()).collect();
    assert!(
        missing.is_empty(),
        "SUMMARY.md lists pages that do not exist: {missing:?}"
    );

    // The README stays short.
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(
        readme.lines().count() <= 150,
        "the README has {} lines: move the rest into the book",
        readme.lines().count()
    );
}

/// The fenced blocks of a page: (info string, text).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for event in Parser::new_ext(text, Options::all()) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                current = Some((info.to_string(), String::new()))
            }
            Event::Text(t) => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

#[test]
fn every_rust_block_of_the_book_is_included_from_code_the_workspace_compiles() {
    let mut chapters = Vec::new();
    markdown_under(&book(), &mut chapters);
    let mut loose = Vec::new();
    for chapter in &chapters {
        let text = std::fs::read_to_string(chapter).expect("a chapter");
        for (info, body) in blocks(&text) {
            if info.split(',').next() != Some("rust") {
                continue;
            }
            let included = body
                .trim()
                .strip_prefix("{{#include ")
                .and_then(|l| l.strip_suffix("}}"))
                .map(|file| {
                    chapter
                        .parent()
                        .expect("a folder")
                        .join(file.split(':').next().unwrap_or(file))
                });
            match included {
                Some(file) if file.extension().is_some_and(|e| e == "rs") && file.exists() => {}
                _ => loose.push(format!("{}: {}", chapter.display(), body.lines().next().unwrap_or(""))),
            }
        }
    }
    assert!(
        loose.is_empty(),
        "Rust blocks not included from a compiled file (put the code in a crate or an example and \
         `{{{{#include …}}}}` it):\n{}",
        loose.join("\n")
    );
}

/// One command of a `console` block and what it prints.
struct Example {
    page: String,
    command: String,
    expected: Vec<String>,
}

/// The `console` blocks of `page`, command by command.
fn examples(page: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(page).expect("a chapter");
    let name = page.strip_prefix(book()).unwrap_or(page).display().to_string();
    let mut out: Vec<Example> = Vec::new();
    for (info, body) in blocks(&text) {
        if info.split(',').next() != Some("console") {
            continue;
        }
        let mut continued = false;
        for line in body.lines() {
            if let Some(command) = line.strip_prefix("$ ") {
                out.push(Example {
                    page: name.clone(),
                    command: command.to_owned(),
                    expected: Vec::new(),
                });
                continued = command.ends_with('\\');
            } else if continued || line.starts_with("> ") {
                // After a `\`, or bash's `> ` prompt of a command going on.
                let line = line.strip_prefix("> ").unwrap_or(line);
                let example = out.last_mut().expect("a command");
                example.command.push('\n');
                example.command.push_str(line);
                continued = line.ends_with('\\');
            } else if let Some(example) = out.last_mut() {
                example.expected.push(line.to_owned());
            } else {
                panic!("{name}: a console block starts with {line:?}, not a `$ ` command");
            }
        }
    }
    out
}

/// Whether `line` matches `pattern`, in which `[..]` is any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether `lines` match `expected`, where a `...` line is any number of
/// lines.
fn output_matches(expected: &[String], lines: &[&str]) -> bool {
    match expected.split_first() {
        None => lines.is_empty(),
        Some((first, rest)) if first == "..." => (0..=lines.len()).any(|skip| output_matches(rest, &lines[skip..])),
        Some((first, rest)) => lines
            .split_first()
            .is_some_and(|(line, others)| line_matches(first, line) && output_matches(rest, others)),
    }
}

#[test]
fn the_console_examples_of_the_how_to_chapters_run_against_a_demo_server_and_print_what_the_book_says() {
    let _heavy = crate::heavy();
    let book = book();
    let mut pages = vec![book.join("getting-started.md")];
    for folder in ["plugins", "running", "decisions"] {
        let mut found = Vec::new();
        markdown_under(&book.join(folder), &mut found);
        found.sort();
        pages.extend(found);
    }
    let examples: Vec<Vec<Example>> = pages.iter().map(|p| examples(p)).filter(|e| !e.is_empty()).collect();
    assert!(
        examples.iter().map(Vec::len).sum::<usize>() >= 10,
        "the how-to chapters have lost their runnable examples"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let server = ChildServer::spawn(
        &dir.path().join("data"),
        Some(&dir.path().join("server.log")),
        &[],
        &["--demo"],
    );
    server.wait_ready(std::time::Duration::from_secs(120));
    let url = server.url("");

    // The repository's top-level entries seen from a directory of the
    // page's own, so what an example writes stays out of the checkout.
    let mut failures = Vec::new();
    for page in &examples {
        let work = dir.path().join(format!("work-{}", page[0].page.replace('/', "-")));
        std::fs::create_dir_all(&work).expect("a work folder");
        for entry in std::fs::read_dir(root()).expect("the repository") {
            let entry = entry.expect("an entry");
            let name = entry.file_name();
            if name != "target" && name != ".git" {
                std::os::unix::fs::symlink(entry.path(), work.join(&name)).expect("a link");
            }
        }
        let out = work.join(".out");
        std::fs::create_dir_all(&out).expect("an output folder");
        // Servers a page starts itself (a fleet's hosts) get free ports for
        // the ones the page names, and are stopped when the page ends.
        let ports: Vec<(String, String)> = (8081..8090)
            .map(|port| {
                let free = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free port")
                    .port();
                (format!("127.0.0.1:{port}"), format!("127.0.0.1:{free}"))
            })
            .collect();
        let mut script = String::from("set -o pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n");
        for (i, example) in page.iter().enumerate() {
            let mut command = example
                .command
                .replace("cargo run -q -p rulehost --", "\"$RULEHOST_BIN\"")
                .replace(
                    "cargo run -q --manifest-path ../Cargo.toml -p rulehost --",
                    "\"$RULEHOST_BIN\"",
                )
                .replace("http://127.0.0.1:8080", &url);
            for (named, free) in &ports {
                command = command.replace(named, free);
            }
            script.push_str(&format!(
                "{{\n{command}\n}} > {out}/{i} 2> {out}/{i}.err < /dev/null; echo $? > {out}/{i}.rc\n",
                out = out.display()
            ));
        }
        // A page that starts servers or names `RULEHOST_DATABASE_URL` gets
        // a throwaway database there (on the test command's cluster).
        let database = page
            .iter()
            .any(|e| e.command.contains("RULEHOST_DATABASE_URL") || e.command.contains(" serve "))
            .then(|| rulehost::registry::testing::fresh_database("book"));
        let mut bash = std::process::Command::new("timeout");
        bash.args(["900", "bash", "-c", &script])
            .current_dir(&work)
            .env("RULEHOST_BIN", env!("CARGO_BIN_EXE_rulehost"))
            .env("RULEHOST_SERVER", &url)
            .env("RULEHOST_DEMO_CUSTOMERS", "0")
            .env_remove("RULEHOST_DATABASE_URL");
        if let Some((database_url, _)) = &database {
            bash.env("RULEHOST_DATABASE_URL", database_url);
        }
        let ran = bash.status().expect("bash runs");
        if let Some((_, name)) = &database {
            rulehost::registry::testing::drop_database(name);
        }
        assert!(
            ran.success(),
            "{}: the page's commands did not finish: {ran}",
            page[0].page
        );
        for (i, example) in page.iter().enumerate() {
            let read = |suffix: &str| std::fs::read_to_string(out.join(format!("{i}{suffix}"))).unwrap_or_default();
            let (stdout, stderr, rc) = (read(""), read(".err"), read(".rc"));
            let lines: Vec<&str> = stdout.lines().collect();
            if rc.trim() != "0" || !output_matches(&example.expected, &lines) {
                failures.push(format!(
                    "{}: $ {}\nexit {}\n--- the book says:\n{}\n--- it printed:\n{stdout}--- stderr:\n{stderr}",
                    example.page,
                    example.command,
                    rc.trim(),
                    example.expected.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_example_matcher_takes_wildcards_as_trycmd_does() {
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(output_matches(&lines("a[..]c\n...\nz"), &["abc", "x", "y", "z"]));
    assert!(output_matches(&lines("...\nz"), &["z"]));
    assert!(!output_matches(&lines("a[..]c"), &["abd"]));
    assert!(!output_matches(&lines("a"), &["a", "b"]));
    assert!(line_matches(
        "[..]\"stage\":\"growth\"[..]",
        "{\"stage\":\"growth\",\"x\":1}"
    ));
    assert!(!line_matches("x[..]y[..]z", "xyy"));
    assert!(line_matches("x[..]y[..]z", "xyyz"));
}

#[test]
fn the_server_serves_every_chapter_and_each_console_page_links_to_its_own() {
    let book = book();
    let mut chapters = Vec::new();
    markdown_under(&book, &mut chapters);
    let mut on_disk: Vec<String> = chapters
        .iter()
        .map(|c| c.strip_prefix(&book).expect("in the book").display().to_string())
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = rulehost_book::PAGES.iter().map(|(p, _)| (*p).to_owned()).collect();
    built_in.sort();
    assert_eq!(
        built_in, on_disk,
        "rulehost_book::PAGES must list every file of docs/src"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let server = crate::serve::TestServer::start(dir.path());
    let get = |path: &str| {
        let mut response = crate::serve::agent().get(&server.url(path)).call().expect("a page");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap_or_default())
    };
    for page in &on_disk {
        let (status, html) = get(&format!("/book/{page}"));
        assert_eq!(status, 200, "/book/{page}");
        assert!(html.starts_with("<!doctype html>"), "/book/{page}");
        for id in rulehost_book::heading_ids(&rulehost_book::markdown(page).expect("markdown")) {
            assert!(
                html.contains(&format!(" id=\"{id}\"")),
                "/book/{page} lacks the heading id {id}"
            );
        }
    }
    assert_eq!(get("/book/nothing.md").0, 404);
    assert_eq!(get("/book/../Cargo.toml").0, 404);

    // The console's help links: each one a chapter the server serves.
    let app = std::fs::read_to_string(root().join("host/console/app.js")).expect("app.js");
    let linked: BTreeSet<&str> = app
        .split('"')
        .filter(|s| s.ends_with(".md") && !s.contains(' '))
        .collect();
    assert!(linked.len() >= 5, "the console links to {linked:?}");
    for chapter in linked {
        assert!(
            on_disk.iter().any(|p| p == chapter),
            "the console links to {chapter}, not a chapter"
        );
    }
}
