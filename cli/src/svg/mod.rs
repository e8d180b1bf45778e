//! Timeline pictures of traces, as SVG written by hand. One picture holds one or more
//! runs (a trace each) on one shared time axis, each run measured from its own first
//! event: a heading with its label, wall time and device utilisation, then one lane
//! per track (busy time in colour over a grey idle background, host calls' blocked
//! time in red), a mark where the run ends, the axis in milliseconds; for dense
//! traces (where single steps are below a pixel) a detail panel magnifying one typical
//! stretch of every run on a second shared axis; a legend that explains every colour,
//! and the traces' notes.
//!
//! A single trace (`nrt-shim report TRACE --svg`, the demo's per-run files) is a
//! picture of one run; `compare.svg` and `report A B --svg` are pictures of several.

mod key;
mod paint;

use std::fmt::Write as _;

use crate::trace::{self, Kind, Trace};
use paint::{column_rects, coverage, escape, fit, fmt_ms, text_width, tick_step};

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

    /// The wall time in ms to three significant digits or more: 420.3, 4.01, 0.306.
    pub fn wall_ms(&self) -> String {
        let ms = self.wall_us / 1000.0;
        let digits = if ms >= 10.0 {
            1
        } else if ms >= 1.0 {
            2
        } else {
            3
        };
        format!("{ms:.digits$}")
    }

    /// "wall 420.0 ms · device busy 48%".
    pub fn text(&self) -> String {
        let wall = format!("wall {} ms", self.wall_ms());
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

/// A stretch of time shown across the plot: `offset` us after each run's first event,
/// `len` us long.
#[derive(Clone, Copy)]
struct Window {
    offset: f64,
    len: f64,
}

impl Window {
    fn us_per_px(&self) -> f64 {
        self.len / PLOT
    }
}

/// Traces with more slices than this on a lane get a detail panel: the whole run is
/// then too dense to show single steps.
const DENSE_SLICES: usize = 150;
/// The detail panel's magnification.
const ZOOM: f64 = 20.0;

/// The picture of `runs` on one time axis (and, when they are dense, a magnified
/// typical stretch of each, again on one axis).
pub fn render_runs(title: &str, runs: &[Run]) -> String {
    let axis_span = runs.iter().map(|r| r.trace.span()).fold(0.0, f64::max).max(1.0);
    let whole = Window { offset: 0.0, len: axis_span };
    let mut body = String::new();
    let (mut y, lanes) = draw_panel(&mut body, runs, TOP, whole, false);
    let axis_y = y + 6.0;
    draw_axis(&mut body, whole, "axis", &lanes, axis_y);
    y = axis_y + 34.0;

    let dense = runs.iter().any(|r| r.trace.tracks.iter().any(|t| t.slices.len() > DENSE_SLICES));
    if dense {
        let detail = typical_window(runs, axis_span / ZOOM);
        let (of, why) = if runs.len() > 1 {
            (
                " of each run",
                "the stretch where each run's device busy share is closest to its share over the whole run",
            )
        } else {
            ("", "the stretch where the device busy share is closest to its share over the whole run")
        };
        let _ = writeln!(
            body,
            r#"  <text class="detail-title" x="10" y="{:.1}" font-size="13" font-weight="bold">Detail: {:.1} to {:.1} ms{of}, {ZOOM:.0}x wider</text>"#,
            y + 4.0,
            detail.offset / 1000.0,
            (detail.offset + detail.len) / 1000.0
        );
        let _ = writeln!(
            body,
            r#"  <text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{MUTED}">{why}</text>"#,
            WIDTH - 10.0,
            y + 4.0
        );
        let top = y + 12.0;
        let (end, lanes) = draw_panel(&mut body, runs, top, detail, true);
        let detail_axis = end + 6.0;
        draw_axis(&mut body, detail, "detail-axis", &lanes, detail_axis);
        y = detail_axis + 34.0;
    }

    let mut tail = String::new();
    let legend_end = key::draw_legend(&mut tail, y);
    let notes_end = key::draw_notes(&mut tail, runs, legend_end + 8.0);
    let height = (notes_end + 10.0).ceil();
    let mut s = String::new();
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
    s.push_str(&body);
    s.push_str(&tail);
    s.push_str("</svg>\n");
    s
}

/// A window of `len` us inside the shortest run where the runs look as they do on
/// the whole: the least total difference between each run's device busy share in the
/// window and over the run (a stall of a shared machine is not what to magnify).
fn typical_window(runs: &[Run], len: f64) -> Window {
    // (run start, run span, busy intervals) of every device lane (of every lane
    // when a run has none).
    type Lane = (f64, f64, Vec<(f64, f64)>);
    let mut lanes: Vec<Lane> = Vec::new();
    for r in runs {
        let t = r.trace;
        let devices = t.tracks.iter().any(|tr| tr.kind == Kind::Device);
        for tr in t.tracks.iter().filter(|tr| !devices || tr.kind == Kind::Device) {
            lanes.push((t.start, t.span(), trace::busy(tr)));
        }
    }
    let share = |busy: &[(f64, f64)], a: f64, b: f64| -> f64 {
        busy.iter().map(|&(x, y)| (b.min(y) - a.max(x)).max(0.0)).sum::<f64>() / (b - a).max(1e-9)
    };
    let whole: Vec<f64> = lanes.iter().map(|(start, span, busy)| share(busy, *start, start + span)).collect();
    let shortest = runs.iter().map(|r| r.trace.span()).fold(f64::INFINITY, f64::min);
    let room = (shortest - len).max(0.0);
    let mut best = (f64::INFINITY, 0.0);
    for k in 0..=40 {
        let offset = room * f64::from(k) / 40.0;
        let cost: f64 = lanes
            .iter()
            .zip(&whole)
            .map(|((start, _, busy), w)| (share(busy, start + offset, start + offset + len) - w).abs())
            .sum();
        if cost < best.0 - 1e-9 {
            best = (cost, offset);
        }
    }
    Window { offset: best.1, len }
}

/// The runs one below the other from `y`, separated by thin lines; returns the y below.
/// Also returns the vertical extent of each run's lanes, where the grid is drawn.
fn draw_panel(s: &mut String, runs: &[Run], mut y: f64, w: Window, compact: bool) -> (f64, Vec<(f64, f64)>) {
    let heading = if compact { HEADING_SMALL } else { HEADING };
    let mut lanes = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            let sep = y - RUN_GAP / 2.0;
            let _ = writeln!(
                s,
                r#"  <line x1="10" y1="{sep:.1}" x2="{:.1}" y2="{sep:.1}" stroke="{IDLE}"/>"#,
                WIDTH - 10.0
            );
        }
        let end = draw_run(s, run, y, w, compact);
        lanes.push((y + heading - 2.0, end + 2.0));
        y = end + RUN_GAP;
    }
    (y - RUN_GAP, lanes)
}

const HEADING_SMALL: f64 = 17.0;

/// The run's heading and lanes from `y` over the window `w` (compact: the detail
/// panel's, with only the label as heading); returns the y below its last lane.
fn draw_run(s: &mut String, run: &Run, y: f64, w: Window, compact: bool) -> f64 {
    let t = run.trace;
    let heading = if compact { HEADING_SMALL } else { HEADING };
    let lane_class = if compact { "detail-lane" } else { "lane" };
    if compact {
        let _ = writeln!(s, r#"  <g class="detail-run" data-label="{}">"#, escape(&run.label));
        let _ = writeln!(
            s,
            r#"    <text x="10" y="{:.1}" font-size="11" font-weight="bold">{}</text>"#,
            y + 12.0,
            escape(&fit(&run.label, 360.0, 11.0, true))
        );
    } else {
        draw_heading(s, run, y);
    }

    let us_per_px = w.us_per_px();
    let span = t.span();
    let shown = ((span - w.offset) / us_per_px).clamp(0.0, PLOT);
    let ncols = shown.ceil() as usize;
    let origin = t.start + w.offset;
    let mut ly = y + heading;
    for tr in &t.tracks {
        let busy = trace::busy(tr);
        let kind = match tr.kind {
            Kind::Host => "host",
            Kind::Device => "device",
        };
        let _ = writeln!(s, r#"    <g class="{lane_class}" data-kind="{kind}" data-track="{}">"#, escape(&tr.name));
        let _ = writeln!(
            s,
            r#"      <text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            ly + LANE / 2.0 + 4.0,
            escape(&fit(&tr.name, LEFT - 18.0, 12.0, false))
        );
        if shown > 0.0 {
            let _ = writeln!(
                s,
                r#"      <rect x="{LEFT}" y="{ly:.1}" width="{:.1}" height="{LANE}" fill="{IDLE}"/>"#,
                shown.max(1.0)
            );
        }
        match tr.kind {
            Kind::Device => column_rects(s, &coverage(&busy, origin, us_per_px, ncols), LEFT, ly, LANE, DEVICE),
            Kind::Host => {
                let (hy, hh) = (ly + 3.0, LANE - 6.0);
                column_rects(s, &coverage(&busy, origin, us_per_px, ncols), LEFT, hy, hh, HOST);
                let blocked = trace::blocked(tr);
                column_rects(s, &coverage(&blocked, origin, us_per_px, ncols), LEFT, hy, hh, BLOCKED);
            }
        }
        if !compact {
            let util = if span > 0.0 { busy.iter().map(|(a, b)| b - a).sum::<f64>() / span * 100.0 } else { 0.0 };
            let _ = writeln!(
                s,
                r#"      <text x="{:.1}" y="{:.1}">{util:.0}%</text>"#,
                LEFT + PLOT + 8.0,
                ly + LANE / 2.0 + 4.0
            );
        }
        let _ = writeln!(s, "    </g>");
        ly += LANE + LANE_GAP;
    }
    let lanes_end = ly - LANE_GAP;
    if t.tracks.is_empty() {
        let _ = writeln!(
            s,
            r#"    <text x="{LEFT}" y="{:.1}" fill="{MUTED}">(no tracks)</text>"#,
            y + heading + LANE / 2.0 + 4.0
        );
        ly += LANE + LANE_GAP;
    } else if span >= w.offset && span <= w.offset + w.len {
        let end_x = LEFT + (span - w.offset) / us_per_px;
        let _ = writeln!(
            s,
            r#"    <line class="run-end" x1="{end_x:.1}" y1="{:.1}" x2="{end_x:.1}" y2="{:.1}" stroke="{END}" stroke-width="2"/>"#,
            y + heading - 3.0,
            lanes_end + 3.0
        );
    }
    let _ = writeln!(s, "  </g>");
    ly - LANE_GAP
}

/// A run's heading: label, what it is (shortened to fit), wall time and utilisation.
fn draw_heading(s: &mut String, run: &Run, y: f64) {
    let fig = Figures::of(run.trace);
    let _ = writeln!(
        s,
        r#"  <g class="run" data-label="{}" data-wall-ms="{}" data-device-busy="{}">"#,
        escape(&run.label),
        fig.wall_ms(),
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
}

/// The axis of the window `w` at `axis_y` with the ticks' labels (ms since each run's
/// first event), and its grid lines over the runs' `lanes` (never through a heading).
fn draw_axis(s: &mut String, w: Window, class: &str, lanes: &[(f64, f64)], axis_y: f64) {
    let step = tick_step(w.len, 12.0);
    let _ = writeln!(s, r#"  <g class="{class}">"#);
    let mut k = (w.offset / step).ceil();
    while k * step <= w.offset + w.len + 1e-9 {
        let tx = LEFT + (k * step - w.offset) / w.us_per_px();
        for &(top, bottom) in lanes {
            let _ = writeln!(
                s,
                r##"    <line x1="{tx:.1}" y1="{top:.1}" x2="{tx:.1}" y2="{bottom:.1}" stroke="#a0aec0" stroke-width="0.5" stroke-dasharray="2 3"/>"##
            );
        }
        let _ = writeln!(
            s,
            r##"    <line x1="{tx:.1}" y1="{axis_y:.1}" x2="{tx:.1}" y2="{:.1}" stroke="{MUTED}"/>"##,
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

#[cfg(test)]
mod tests;
