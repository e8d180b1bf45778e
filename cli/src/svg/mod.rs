//! Timeline pictures of traces, as SVG written by hand. One picture holds one or more
//! runs (a trace each) on one shared time axis, each run measured from its own first
//! event: a heading with its label, wall time and device utilisation, then one lane
//! per track (busy time in colour over a grey idle background, host calls' blocked
//! time in red), a mark where the run ends, the axis in milliseconds, a legend that
//! explains every colour, and the traces' notes.
//!
//! A single trace (`nrt-shim report TRACE --svg`, the demo's per-run files) is a
//! picture of one run; `compare.svg` and `report A B --svg` are pictures of several.

mod paint;

use std::fmt::Write as _;

use crate::trace::{self, Kind, Trace};
use paint::{column_rects, coverage, escape, fit, fmt_ms, text_width, tick_step, wrap};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 180.0;
const RIGHT: f64 = 56.0;
const PLOT: f64 = WIDTH - LEFT - RIGHT;
const TOP: f64 = 60.0;
const HEADING: f64 = 22.0;
const LANE: f64 = 20.0;
const LANE_GAP: f64 = 4.0;
const RUN_GAP: f64 = 14.0;

const IDLE: &str = "#e2e8f0";
const DEVICE: &str = "#2b6cb0";
const HOST: &str = "#68d391";
const BLOCKED: &str = "#e53e3e";
const END: &str = "#1a202c";
const MUTED: &str = "#4a5568";

/// One run of a picture.
pub struct Run<'a> {
    /// Short name: "sync", "before.json".
    pub label: String,
    /// What the run is, shown after the label (shortened to fit).
    pub detail: String,
    pub trace: &'a Trace,
}

/// A run's headline figures, measured from its trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// First event's start to last event's end.
    pub wall_us: f64,
    /// Mean busy share of the device lanes (None: the trace has no device lane).
    pub device_busy: Option<f64>,
    pub device_lanes: usize,
}

impl Figures {
    pub fn of(t: &Trace) -> Figures {
        let span = t.span();
        let devices: Vec<f64> = t
            .tracks
            .iter()
            .filter(|tr| tr.kind == Kind::Device)
            .map(|tr| if span > 0.0 { busy_us(tr) / span } else { 0.0 })
            .collect();
        let device_busy = (!devices.is_empty()).then(|| devices.iter().sum::<f64>() / devices.len() as f64);
        Figures { wall_us: span, device_busy, device_lanes: devices.len() }
    }

    /// "wall 420.0 ms · device busy 48%".
    pub fn text(&self) -> String {
        let wall = format!("wall {:.1} ms", self.wall_us / 1000.0);
        match self.device_busy {
            None => format!("{wall} · no device lane"),
            Some(b) if self.device_lanes > 1 => {
                format!("{wall} · device busy {:.0}% (mean of {} cores)", b * 100.0, self.device_lanes)
            }
            Some(b) => format!("{wall} · device busy {:.0}%", b * 100.0),
        }
    }
}

fn busy_us(tr: &trace::Track) -> f64 {
    trace::busy(tr).iter().map(|(a, b)| b - a).sum()
}

/// The picture of one trace.
pub fn render(t: &Trace, label: &str, detail: &str) -> String {
    render_runs(
        &format!("Timeline of {label}"),
        &[Run { label: label.to_string(), detail: detail.to_string(), trace: t }],
    )
}

/// The picture of `runs` on one time axis.
pub fn render_runs(title: &str, runs: &[Run]) -> String {
    let axis_span = runs.iter().map(|r| r.trace.span()).fold(0.0, f64::max).max(1.0);
    let us_per_px = axis_span / PLOT;
    let mut body = String::new();
    let mut y = TOP;
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(
                body,
                r#"  <line x1="10" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{IDLE}"/>"#,
                y - RUN_GAP / 2.0,
                WIDTH - 10.0,
                y - RUN_GAP / 2.0
            );
        }
        y = draw_run(&mut body, run, y, us_per_px);
        y += RUN_GAP;
    }
    let lanes_top = TOP + HEADING;
    let axis_y = y - RUN_GAP + 6.0;

    let mut s = String::new();
    let mut tail = String::new();
    let legend_end = draw_legend(&mut tail, axis_y + 34.0);
    let notes_end = draw_notes(&mut tail, runs, legend_end + 8.0);
    let height = (notes_end + 10.0).ceil();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"  <rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"  <text class="title" x="10" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(&fit(title, WIDTH - 20.0, 16.0, true))
    );
    let sub = if runs.len() > 1 {
        format!("{} runs on one time axis, each from its own first event (0 ms)", runs.len())
    } else {
        "time from the trace's first event (0 ms)".to_string()
    };
    let _ = writeln!(s, r#"  <text x="10" y="42" font-size="11" fill="{MUTED}">{sub}</text>"#);
    draw_axis(&mut s, axis_span, lanes_top, axis_y);
    s.push_str(&body);
    s.push_str(&tail);
    s.push_str("</svg>\n");
    s
}

/// The run's heading and lanes from `y`; returns the y below its last lane.
fn draw_run(s: &mut String, run: &Run, y: f64, us_per_px: f64) -> f64 {
    let t = run.trace;
    let fig = Figures::of(t);
    let _ = writeln!(
        s,
        r#"  <g class="run" data-label="{}" data-wall-ms="{:.1}" data-device-busy="{}">"#,
        escape(&run.label),
        fig.wall_us / 1000.0,
        fig.device_busy.map(|b| format!("{:.0}", b * 100.0)).unwrap_or_default()
    );
    let base = y + 15.0;
    let figures = fig.text();
    let fig_w = text_width(&figures, 12.0, true);
    let label = fit(&run.label, 360.0, 13.0, true);
    let label_w = text_width(&label, 13.0, true);
    let _ = writeln!(
        s,
        r#"    <text class="run-label" x="10" y="{base:.1}" font-size="13" font-weight="bold">{}</text>"#,
        escape(&label)
    );
    let detail_x = 10.0 + label_w + 12.0;
    let room = WIDTH - 10.0 - fig_w - 24.0 - detail_x;
    if !run.detail.is_empty() && room > 40.0 {
        let _ = writeln!(
            s,
            r#"    <text class="run-detail" x="{detail_x:.1}" y="{base:.1}" fill="{MUTED}">{}</text>"#,
            escape(&fit(&run.detail, room, 12.0, false))
        );
    }
    let _ = writeln!(
        s,
        r#"    <text class="run-figures" x="{:.1}" y="{base:.1}" text-anchor="end" font-weight="bold">{}</text>"#,
        WIDTH - 10.0,
        escape(&figures)
    );

    let span = t.span();
    let end_x = LEFT + span / us_per_px;
    let ncols = ((span / us_per_px).ceil() as usize).min(PLOT as usize);
    let mut ly = y + HEADING;
    for tr in &t.tracks {
        let busy = trace::busy(tr);
        let util = if span > 0.0 { busy.iter().map(|(a, b)| b - a).sum::<f64>() / span * 100.0 } else { 0.0 };
        let kind = match tr.kind {
            Kind::Host => "host",
            Kind::Device => "device",
        };
        let _ = writeln!(s, r#"    <g class="lane" data-kind="{kind}" data-track="{}">"#, escape(&tr.name));
        let _ = writeln!(
            s,
            r#"      <text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            ly + LANE / 2.0 + 4.0,
            escape(&fit(&tr.name, LEFT - 18.0, 12.0, false))
        );
        let _ = writeln!(
            s,
            r#"      <rect x="{LEFT}" y="{ly:.1}" width="{:.1}" height="{LANE}" fill="{IDLE}"/>"#,
            (end_x - LEFT).max(1.0)
        );
        match tr.kind {
            Kind::Device => column_rects(s, &coverage(&busy, t.start, us_per_px, ncols), LEFT, ly, LANE, DEVICE),
            Kind::Host => {
                let (hy, hh) = (ly + 3.0, LANE - 6.0);
                column_rects(s, &coverage(&busy, t.start, us_per_px, ncols), LEFT, hy, hh, HOST);
                let blocked = trace::blocked(tr);
                column_rects(s, &coverage(&blocked, t.start, us_per_px, ncols), LEFT, hy, hh, BLOCKED);
            }
        }
        let _ = writeln!(
            s,
            r#"      <text x="{:.1}" y="{:.1}">{util:.0}%</text>"#,
            LEFT + PLOT + 8.0,
            ly + LANE / 2.0 + 4.0
        );
        let _ = writeln!(s, "    </g>");
        ly += LANE + LANE_GAP;
    }
    let lanes_end = ly - LANE_GAP;
    if !t.tracks.is_empty() {
        let _ = writeln!(
            s,
            r#"    <line class="run-end" x1="{end_x:.1}" y1="{:.1}" x2="{end_x:.1}" y2="{:.1}" stroke="{END}" stroke-width="2"/>"#,
            y + HEADING - 3.0,
            lanes_end + 3.0
        );
    } else {
        let _ = writeln!(
            s,
            r#"    <text x="{LEFT}" y="{:.1}" fill="{MUTED}">(no tracks)</text>"#,
            y + HEADING + LANE / 2.0 + 4.0
        );
        ly += LANE + LANE_GAP;
    }
    let _ = writeln!(s, "  </g>");
    ly - LANE_GAP
}

/// Grid lines from `top` down to the axis at `axis_y`, with the ticks' labels.
fn draw_axis(s: &mut String, span: f64, top: f64, axis_y: f64) {
    let step = tick_step(span, 12.0);
    let _ = writeln!(s, r#"  <g class="axis">"#);
    let mut k = 0.0;
    while k * step <= span + 1e-9 {
        let tx = LEFT + k * step / span * PLOT;
        let _ = writeln!(
            s,
            r##"    <line x1="{tx:.1}" y1="{top:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#cbd5e0" stroke-width="0.5"/>"##,
            axis_y + 4.0
        );
        let _ = writeln!(
            s,
            r#"    <text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            axis_y + 17.0,
            fmt_ms(k * step / 1000.0)
        );
        k += 1.0;
    }
    let _ = writeln!(
        s,
        r#"    <line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="{MUTED}"/>"#,
        LEFT + PLOT
    );
    let _ = writeln!(
        s,
        r#"    <text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}">time (ms)</text>"#,
        LEFT - 8.0,
        axis_y + 17.0
    );
    let _ = writeln!(s, "  </g>");
}

/// The legend from `y` (flowing onto more rows if needed); returns the y below it.
fn draw_legend(s: &mut String, y: f64) -> f64 {
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
fn draw_notes(s: &mut String, runs: &[Run], y: f64) -> f64 {
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

#[cfg(test)]
mod tests;
