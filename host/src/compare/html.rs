//! A [`Report`] as one self-contained HTML page: inline CSS and SVG charts,
//! no scripts, no fonts or images to fetch, so it opens offline and can be
//! mailed around. Everything a plugin or a user wrote (reasons, names) is
//! escaped.

use std::fmt::Write as _;

use super::{ErrorCount, NamedCount, Pair, Report, STAGES};

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `12345` → `12,345`.
fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signed(delta: i64) -> String {
    match delta {
        0 => "±0".into(),
        d if d > 0 => format!("+{}", num(d as u64)),
        d => format!("−{}", num(d.unsigned_abs())),
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

const BASE: &str = "#9aa5b1";
const CAND: &str = "#2f6fdf";

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2933;margin:0;background:#f5f7fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
section{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:16px 20px;margin:16px 0}
.muted{color:#616e7c}.failed{border:2px solid #c62828;background:#fff5f5}.failed h2{color:#c62828;margin-top:0}.up{color:#0b7a3e}.down{color:#c62828}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #eef1f4;text-align:right}
th:first-child,td:first-child{text-align:left}th{font-weight:600;color:#52606d}
.glance{display:flex;flex-wrap:wrap;gap:12px}.card{flex:1 1 220px;border:1px solid #e4e7eb;border-radius:8px;padding:12px;background:#fbfcfd}
.card b{display:block;font-size:26px}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}
code{font-size:12px;background:#eef1f4;padding:1px 4px;border-radius:3px}
details{margin:6px 0}summary{cursor:pointer}
";

fn legend(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<p class=\"legend\"><span style=\"background:{BASE}\"></span>baseline: {} \
         <span style=\"background:{CAND}\"></span>candidate: {}</p>",
        esc(&report.baseline.label),
        esc(&report.candidate.label)
    );
}

/// Grouped bars, one group per row: `(label, pair)`.
fn bars(out: &mut String, id: &str, title: &str, rows: &[(String, Pair)]) {
    let max = rows
        .iter()
        .map(|(_, p)| p.baseline.max(p.candidate))
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, row_h) = (170.0, 640.0, 34.0);
    let height = rows.len() as f64 * row_h + 10.0;
    let _ = write!(
        out,
        "<svg id=\"{id}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {height}\" width=\"100%\" \
         xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">",
        esc(title),
        w = label_w + bar_w + 120.0
    );
    for (i, (label, pair)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\">{}</text>",
            esc(label),
            x = label_w - 8.0,
            ty = y + 19.0
        );
        for (j, (value, color)) in [(pair.baseline, BASE), (pair.candidate, CAND)].into_iter().enumerate() {
            let w = (value as f64 / max as f64 * bar_w).max(if value > 0 { 1.0 } else { 0.0 });
            let by = y + j as f64 * 13.0;
            let _ = write!(
                out,
                "<rect x=\"{label_w}\" y=\"{by}\" width=\"{w:.1}\" height=\"12\" fill=\"{color}\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty}\" fill=\"#3e4c59\">{}</text>",
                num(value),
                tx = label_w + w + 4.0,
                ty = by + 10.0
            );
        }
        let delta = pair.delta();
        if delta != 0 {
            let class = if delta > 0 { "#0b7a3e" } else { "#c62828" };
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\" fill=\"{class}\" font-weight=\"600\">{}</text>",
                signed(delta),
                x = label_w + bar_w + 116.0,
                ty = y + 19.0
            );
        }
    }
    out.push_str("</svg>");
}

/// The stage-to-stage matrix as a heat map.
fn matrix(out: &mut String, report: &Report) {
    let stages: Vec<&str> = STAGES
        .iter()
        .copied()
        .filter(|s| {
            report
                .stages
                .iter()
                .any(|c| c.stage == *s && (c.customers.baseline > 0 || c.customers.candidate > 0))
        })
        .collect();
    let max = report.transitions.iter().map(|t| t.customers).max().unwrap_or(1).max(1) as f64;
    let (head, cell) = (110.0, 92.0);
    let size = head + cell * stages.len() as f64;
    let _ = write!(
        out,
        "<svg id=\"transitions\" role=\"img\" aria-label=\"stage transitions\" viewBox=\"0 0 {w} {h}\" \
         width=\"100%\" style=\"max-width:{w}px\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">\
         <text x=\"{hx}\" y=\"{hy}\" text-anchor=\"middle\" fill=\"#52606d\">candidate stage →</text>\
         <text x=\"12\" y=\"{vy}\" transform=\"rotate(-90 12 {vy})\" text-anchor=\"middle\" \
         fill=\"#52606d\">baseline stage →</text>",
        w = size + 10.0,
        h = size + 10.0,
        hx = head + cell * stages.len() as f64 / 2.0,
        hy = head - 34.0,
        vy = head + cell * stages.len() as f64 / 2.0
    );
    for (i, stage) in stages.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{stage}</text>\
             <text x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\">{stage}</text>",
            x = head + cell * (i as f64 + 0.5),
            y = head - 10.0,
            lx = head - 8.0,
            ly = head + cell * (i as f64 + 0.5) + 4.0
        );
    }
    for (r, from) in stages.iter().enumerate() {
        for (c, to) in stages.iter().enumerate() {
            let n = report.moved(from, to);
            let strength = if n == 0 {
                0.0
            } else {
                0.12 + 0.88 * ((n as f64).ln_1p() / max.ln_1p())
            };
            let (x, y) = (head + cell * c as f64, head + cell * r as f64);
            let fill = if from == to {
                format!("rgba(154,165,177,{strength:.3})")
            } else {
                format!("rgba(47,111,223,{strength:.3})")
            };
            let text = if strength > 0.6 { "#fff" } else { "#1f2933" };
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{w}\" fill=\"{fill}\" stroke=\"#e4e7eb\"/>\
                 <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"middle\" fill=\"{text}\"{bold}>{}</text>",
                if n == 0 { String::new() } else { num(n) },
                w = cell,
                tx = x + cell / 2.0,
                ty = y + cell / 2.0 + 4.0,
                bold = if from != to && n > 0 {
                    " font-weight=\"600\""
                } else {
                    ""
                }
            );
        }
    }
    out.push_str("</svg>");
}

fn counts_table(out: &mut String, name: &str, rows: &[NamedCount]) {
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">none on either side</p>");
        return;
    }
    let _ = write!(
        out,
        "<table><tr><th>{name}</th><th>baseline</th><th>candidate</th><th>change</th></tr>"
    );
    for row in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.name),
            num(row.count.baseline),
            num(row.count.candidate),
            signed(row.count.delta())
        );
    }
    out.push_str("</table>");
}

fn errors_table(out: &mut String, rows: &[ErrorCount]) {
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">no decision failed on either side</p>");
        return;
    }
    out.push_str("<table><tr><th>code</th><th>baseline</th><th>candidate</th><th>for example</th></tr>");
    for row in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\"><code>{}</code></td></tr>",
            esc(&row.code),
            num(row.count.baseline),
            num(row.count.candidate),
            esc(&row.example)
        );
    }
    out.push_str("</table>");
}

/// Failed decisions, first of all when there are any: a report over
/// errors compares nothing, and must not read like a success.
fn failures(out: &mut String, report: &Report) {
    if report.failed == Pair::default() {
        return;
    }
    let headline = if report.every_decision_failed() {
        "Every decision failed on one side or both: this report compares errors, not rules."
    } else if report.mostly_failed() {
        "Most decisions failed on one side or both: the counts below compare mostly errors."
    } else {
        "Some decisions failed."
    };
    let _ = write!(
        out,
        "<section class=\"failed\"><h2>{headline}</h2><p>Failed decisions: <strong>{}</strong> of {} in the \
         baseline, <strong>{}</strong> of {} in the candidate.</p>",
        num(report.failed.baseline),
        num(report.customers),
        num(report.failed.candidate),
        num(report.customers)
    );
    errors_table(out, &report.errors);
    out.push_str("</section>");
}

/// The headline numbers: the biggest stage moves and changes in what is
/// sent after policy.
fn glance(out: &mut String, report: &Report) {
    out.push_str("<div class=\"glance\">");
    if report.failed != Pair::default() {
        let _ = write!(
            out,
            "<div class=\"card\"><b class=\"down\">{}</b>decisions failed ({} baseline, {} candidate)</div>",
            num(report.failed.baseline + report.failed.candidate),
            num(report.failed.baseline),
            num(report.failed.candidate)
        );
    }
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b>customers change ({} of {})</div>",
        num(report.changed),
        percent(report.changed, report.customers),
        num(report.customers)
    );
    let mut moves: Vec<_> = report.transitions.iter().filter(|t| t.from != t.to).collect();
    moves.sort_by_key(|t| std::cmp::Reverse(t.customers));
    for t in moves.iter().take(4) {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b>move from <strong>{}</strong> to <strong>{}</strong></div>",
            num(t.customers),
            esc(&t.from),
            esc(&t.to)
        );
    }
    let mut offers: Vec<_> = report.offers.iter().filter(|o| o.selected.delta() != 0).collect();
    offers.sort_by(|a, b| {
        b.selected
            .delta()
            .unsigned_abs()
            .cmp(&a.selected.delta().unsigned_abs())
    });
    for o in offers.iter().take(3) {
        let delta = o.selected.delta();
        let _ = write!(
            out,
            "<div class=\"card\"><b class=\"{}\">{}</b><strong>{}</strong> sent after caps and policy \
             ({} → {})</div>",
            if delta > 0 { "up" } else { "down" },
            signed(delta),
            esc(&o.offer_id),
            num(o.selected.baseline),
            num(o.selected.candidate)
        );
    }
    out.push_str("</div>");
}

/// Renders the page.
pub fn render(report: &Report, title: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><main>\
         <h1>{t}</h1>",
        t = esc(title)
    );
    for (side, arm) in [("baseline", &report.baseline), ("candidate", &report.candidate)] {
        let plugins: Vec<String> = arm
            .plugins
            .iter()
            .map(|p| {
                format!(
                    "{} {} <code>{}</code>",
                    esc(&p.name),
                    esc(&p.version),
                    esc(&p.sha256[..p.sha256.len().min(12)])
                )
            })
            .collect();
        let _ = write!(
            out,
            "<div class=\"muted\">{side}: <strong>{}</strong> — {}</div>",
            esc(&arm.label),
            plugins.join(", ")
        );
    }
    failures(&mut out, report);
    out.push_str("<section><h2>At a glance</h2>");
    glance(&mut out, report);
    out.push_str("</section>");

    out.push_str("<section><h2>Lifecycle stages</h2>");
    legend(&mut out, report);
    let stages: Vec<(String, Pair)> = report
        .stages
        .iter()
        .filter(|s| s.customers.baseline > 0 || s.customers.candidate > 0)
        .map(|s| (s.stage.clone(), s.customers))
        .collect();
    bars(&mut out, "stages", "customers per stage", &stages);
    out.push_str(
        "<h2>Stage transitions</h2><p class=\"muted\">Each cell counts customers in the row's stage in the \
         baseline and the column's stage in the candidate; the diagonal did not move.</p>",
    );
    matrix(&mut out, report);
    out.push_str("</section>");

    out.push_str("<section><h2>Offer mix</h2><p class=\"muted\">Touches selected after the contact policy (caps, budgets, quiet hours, holdout).</p>");
    legend(&mut out, report);
    let offers: Vec<(String, Pair)> = report.offers.iter().map(|o| (o.offer_id.clone(), o.selected)).collect();
    bars(&mut out, "offers", "touches selected per offer", &offers);
    out.push_str(
        "<table><tr><th>offer</th><th>proposed</th><th></th><th>selected</th><th></th></tr>\
         <tr><th></th><th>baseline</th><th>candidate</th><th>baseline</th><th>candidate</th></tr>",
    );
    for o in &report.offers {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td></tr>",
            esc(&o.offer_id),
            num(o.proposed.baseline),
            num(o.proposed.candidate),
            num(o.selected.baseline),
            num(o.selected.candidate),
            signed(o.selected.delta())
        );
    }
    out.push_str("</table><h2>Touches per channel</h2>");
    counts_table(&mut out, "channel", &report.channels);
    out.push_str("</section>");

    out.push_str("<section><h2>Policy</h2><p class=\"muted\">Proposals each rule held back.</p>");
    counts_table(&mut out, "rule", &report.suppressed);
    if !report.budgets.is_empty() {
        out.push_str(
            "<h2>Budgets</h2><table><tr><th>offer</th><th>budget</th><th>spent before</th>\
             <th>baseline spends</th><th>candidate spends</th><th>refused (baseline / candidate)</th></tr>",
        );
        for b in &report.budgets {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
                esc(&b.offer_id),
                num(b.budget),
                num(b.used_before),
                num(b.spent.baseline),
                num(b.spent.candidate),
                num(b.refused.baseline),
                num(b.refused.candidate)
            );
        }
        out.push_str("</table>");
    }
    let _ = write!(
        out,
        "<p>Holdout: {} of customers in the baseline, {} in the candidate.</p></section>",
        percent(report.holdout.baseline, report.customers),
        percent(report.holdout.candidate, report.customers)
    );

    out.push_str("<section><h2>Tags</h2>");
    if report.tags.is_empty() {
        out.push_str("<p class=\"muted\">no tags on either side</p>");
    } else {
        out.push_str("<table><tr><th>tag</th><th>baseline</th><th>candidate</th><th>gained</th><th>lost</th></tr>");
        for t in report.tags.iter().take(40) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"up\">{}</td><td class=\"down\">{}</td></tr>",
                esc(&t.tag),
                num(t.customers.baseline),
                num(t.customers.candidate),
                if t.gained > 0 {
                    format!("+{}", num(t.gained))
                } else {
                    String::new()
                },
                if t.lost > 0 {
                    format!("−{}", num(t.lost))
                } else {
                    String::new()
                }
            );
        }
        out.push_str("</table>");
        if report.tags.len() > 40 {
            let _ = write!(
                out,
                "<p class=\"muted\">and {} more in report.json</p>",
                report.tags.len() - 40
            );
        }
    }
    out.push_str("</section><section><h2>Errors</h2>");
    errors_table(&mut out, &report.errors);
    out.push_str("</section>");

    let _ = write!(
        out,
        "<section><h2>Customers who change</h2><p class=\"muted\">A sample of {} of {} (report.json has the same).</p>",
        report.samples.len(),
        num(report.changed)
    );
    for sample in &report.samples {
        let _ = write!(
            out,
            "<details><summary><strong>{}</strong> — {} → {} ({} changes)</summary><table>\
             <tr><th>what</th><th>which</th><th>baseline</th><th>candidate</th><th>why</th></tr>",
            esc(&sample.customer_id),
            esc(&sample.baseline_stage),
            esc(&sample.candidate_stage),
            sample.changes.len()
        );
        for c in &sample.changes {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                esc(&c.what),
                esc(&c.key),
                esc(c.baseline.as_deref().unwrap_or("—")),
                esc(c.candidate.as_deref().unwrap_or("—")),
                esc(&c.why)
            );
        }
        out.push_str("</table></details>");
    }
    out.push_str("</section></main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_plugins_cannot_inject_markup() {
        assert_eq!(
            esc("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn numbers_read_like_numbers() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1000), "1,000");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(signed(-1200), "−1,200");
        assert_eq!(signed(5), "+5");
        assert_eq!(percent(1, 3), "33.3%");
    }
}
