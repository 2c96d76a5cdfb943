//! The one table the suite prints.

use std::fmt::Write as _;

/// Whether a figure meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// Reported without a target.
    Info,
}

/// A row: what, the figure, the target, the verdict.
#[derive(Debug, Clone)]
pub struct Row {
    section: String,
    what: String,
    figure: String,
    target: String,
    verdict: Verdict,
}

/// The table.
#[derive(Debug, Default, Clone)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// A figure with no target.
    pub fn info(&mut self, section: &str, what: &str, figure: String) {
        self.rows.push(Row {
            section: section.into(),
            what: what.into(),
            figure,
            target: "—".into(),
            verdict: Verdict::Info,
        });
        self.echo();
    }

    /// A figure with a target it meets if `met`.
    pub fn check(&mut self, section: &str, what: &str, figure: String, target: &str, met: bool) {
        self.rows.push(Row {
            section: section.into(),
            what: what.into(),
            figure,
            target: target.into(),
            verdict: if met { Verdict::Met } else { Verdict::Missed },
        });
        self.echo();
    }

    /// Progress on stderr, so a long run shows where it is.
    fn echo(&self) {
        if let Some(row) = self.rows.last() {
            eprintln!("  {} / {}: {}", row.section, row.what, row.figure);
        }
    }

    /// The table as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::from("| # | measure | figure | target | |\n|---|---|---|---|---|\n");
        for row in &self.rows {
            let mark = match row.verdict {
                Verdict::Met => "met",
                Verdict::Missed => "**missed**",
                Verdict::Info => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.section, row.what, row.figure, row.target, mark
            );
        }
        out
    }
}
