//! The legend under a picture (every colour and mark it uses) and the traces' notes.

use std::fmt::Write as _;

use super::paint::{self, escape, text_width, wrap};
use super::{Run, BLOCKED, DEVICE, END, HOST, IDLE, MUTED, WIDTH};

/// The legend from `y` (flowing onto more rows if needed); returns the y below it.
pub fn draw_legend(s: &mut String, y: f64) -> f64 {
    enum Swatch {
        Fill(&'static str, f64),
        Line,
    }
    let items = [
        (Swatch::Fill(DEVICE, 1.0), "device busy"),
        (Swatch::Fill(DEVICE, paint::LEVELS[1]), "paler: busy for part of a pixel's time"),
        (Swatch::Fill(HOST, 1.0), "host: inside a runtime call"),
        (Swatch::Fill(BLOCKED, 1.0), "host: blocked waiting for the device"),
        (Swatch::Fill(IDLE, 1.0), "idle (host: the program's own work)"),
        (Swatch::Line, "end of the run"),
    ];
    let _ = writeln!(s, r#"  <g class="legend">"#);
    let (mut lx, mut ly) = (10.0, y);
    for (swatch, label) in items {
        let w = 20.0 + text_width(label, 12.0, false) + 22.0;
        if lx + w > WIDTH - 10.0 {
            lx = 10.0;
            ly += 20.0;
        }
        match swatch {
            Swatch::Fill(color, opacity) => {
                let _ = writeln!(
                    s,
                    r##"    <rect x="{lx:.1}" y="{ly:.1}" width="14" height="14" fill="{color}" fill-opacity="{opacity}" stroke="#a0aec0" stroke-width="0.5"/>"##
                );
            }
            Swatch::Line => {
                let _ = writeln!(
                    s,
                    r#"    <line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{END}" stroke-width="2"/>"#,
                    lx + 7.0,
                    ly - 1.0,
                    lx + 7.0,
                    ly + 15.0
                );
            }
        }
        let _ = writeln!(s, r#"    <text x="{:.1}" y="{:.1}">{label}</text>"#, lx + 20.0, ly + 11.5);
        lx += w;
    }
    let pct = "% at the right of a lane: its busy share of its run's wall time";
    if lx + text_width(pct, 12.0, false) > WIDTH - 10.0 {
        ly += 20.0;
    }
    let _ = writeln!(
        s,
        r#"    <text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}">{pct}</text>"#,
        WIDTH - 10.0,
        ly + 11.5
    );
    let _ = writeln!(s, "  </g>");
    ly + 20.0
}

/// The runs' trace notes (otherData.note), wrapped, from `y`, one paragraph per
/// distinct note ("a, b: note" when runs share one); returns the y below.
pub fn draw_notes(s: &mut String, runs: &[Run], y: f64) -> f64 {
    let mut notes: Vec<(Vec<&str>, &str)> = Vec::new();
    for r in runs {
        if let Some(n) = r.trace.other.get("note") {
            match notes.iter_mut().find(|(_, m)| *m == n.as_str()) {
                Some((labels, _)) => labels.push(&r.label),
                None => notes.push((vec![&r.label], n)),
            }
        }
    }
    if notes.is_empty() {
        return y;
    }
    let _ = writeln!(s, r#"  <g class="notes" font-size="11" fill="{MUTED}">"#);
    let mut ly = y;
    for (labels, n) in notes {
        for line in wrap(&format!("{}: {n}", labels.join(", ")), WIDTH - 30.0, 11.0) {
            ly += 14.0;
            let _ = writeln!(s, r#"    <text x="10" y="{ly:.1}">{}</text>"#, escape(&line));
        }
        ly += 3.0;
    }
    let _ = writeln!(s, "  </g>");
    ly
}
