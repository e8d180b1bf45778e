//! The timeline picture of a trace, as SVG written by hand: one lane per track, busy
//! time in colour over a grey idle background, host calls' blocked time in red, a time
//! axis in milliseconds and a legend.

use std::fmt::Write as _;

use crate::trace::{self, Kind, Trace};

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 200.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 48.0;
const LANE: f64 = 24.0;
const GAP: f64 = 10.0;

const IDLE: &str = "#e2e8f0";
const DEVICE: &str = "#2b6cb0";
const HOST: &str = "#68d391";
const BLOCKED: &str = "#e53e3e";

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) for about `n` ticks over `span`.
pub fn tick_step(span: f64, n: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / n;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let k = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    k * p
}

/// Intervals in pixels, merged where they are less than half a pixel apart.
fn pixels(intervals: &[(f64, f64)], x: &dyn Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &(a, b) in intervals {
        let (xa, xb) = (x(a), x(b));
        match out.last_mut() {
            Some(last) if xa - last.1 < 0.5 => last.1 = last.1.max(xb),
            _ => out.push((xa, xb)),
        }
    }
    out
}

fn rects(s: &mut String, px: &[(f64, f64)], y: f64, h: f64, fill: &str) {
    for &(a, b) in px {
        let _ = writeln!(
            s,
            r#"    <rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{fill}"/>"#,
            (b - a).max(0.6)
        );
    }
}

pub fn render(t: &Trace, title: &str) -> String {
    let span = t.span().max(1.0);
    let plot = WIDTH - LEFT - RIGHT;
    let start = t.start;
    let x = move |us: f64| LEFT + (us - start) / span * plot;
    let lanes = t.tracks.len() as f64;
    let axis_y = TOP + lanes * (LANE + GAP);
    let height = axis_y + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"  <rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#);
    let mut heading = format!("{} - {:.2} ms", escape(title), span / 1000.0);
    if let Some(mode) = t.other.get("mode") {
        let _ = write!(heading, ", mode {}", escape(mode));
    }
    let _ = writeln!(s, r#"  <text x="10" y="20" font-size="15" font-weight="bold">{heading}</text>"#);
    if let Some(note) = t.other.get("note") {
        let _ = writeln!(s, r##"  <text x="10" y="38" font-size="11" fill="#4a5568">{}</text>"##, escape(note));
    }

    // Grid and axis.
    let step = tick_step(span, 10.0);
    let _ = writeln!(s, r#"  <g class="axis">"#);
    let _ = writeln!(
        s,
        r##"    <line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#4a5568"/>"##,
        LEFT + plot
    );
    let mut k = 0.0;
    while k * step <= span + 1e-9 {
        let tx = LEFT + k * step / span * plot;
        let _ = writeln!(
            s,
            r##"    <line x1="{tx:.1}" y1="{TOP:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#cbd5e0" stroke-width="0.5"/>"##,
            axis_y + 4.0
        );
        let _ = writeln!(
            s,
            r#"    <text x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            axis_y + 16.0,
            fmt_ms(k * step / 1000.0)
        );
        k += 1.0;
    }
    let _ = writeln!(s, r#"    <text x="{:.1}" y="{:.1}" text-anchor="end">ms</text>"#, WIDTH - 10.0, axis_y + 16.0);
    let _ = writeln!(s, "  </g>");

    for (i, tr) in t.tracks.iter().enumerate() {
        let y = TOP + i as f64 * (LANE + GAP);
        let busy = trace::busy(tr);
        let busy_us: f64 = busy.iter().map(|(a, b)| b - a).sum();
        let util = busy_us / span * 100.0;
        let kind = match tr.kind {
            Kind::Host => "host",
            Kind::Device => "device",
        };
        let _ = writeln!(s, r#"  <g class="lane" data-kind="{kind}" data-track="{}">"#, escape(&tr.name));
        let _ = writeln!(
            s,
            r#"    <text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + LANE / 2.0 + 4.0,
            escape(&tr.name)
        );
        let _ = writeln!(s, r#"    <rect x="{LEFT}" y="{y:.1}" width="{plot:.1}" height="{LANE}" fill="{IDLE}"/>"#);
        match tr.kind {
            Kind::Device => rects(&mut s, &pixels(&busy, &x), y, LANE, DEVICE),
            Kind::Host => {
                rects(&mut s, &pixels(&busy, &x), y + 4.0, LANE - 8.0, HOST);
                rects(&mut s, &pixels(&trace::blocked(tr), &x), y + 4.0, LANE - 8.0, BLOCKED);
            }
        }
        let _ =
            writeln!(s, r#"    <text x="{:.1}" y="{:.1}">{util:.0}%</text>"#, LEFT + plot + 6.0, y + LANE / 2.0 + 4.0);
        let _ = writeln!(s, "  </g>");
    }

    // Legend.
    let ly = axis_y + 36.0;
    let _ = writeln!(s, r#"  <g class="legend">"#);
    let items = [
        (DEVICE, "device busy"),
        (HOST, "host: inside a runtime call"),
        (BLOCKED, "host: blocked waiting for the device"),
        (IDLE, "idle"),
    ];
    let mut lx = LEFT;
    for (color, label) in items {
        let _ = writeln!(
            s,
            r##"    <rect x="{lx:.1}" y="{ly:.1}" width="14" height="14" fill="{color}" stroke="#a0aec0" stroke-width="0.5"/>"##
        );
        let _ = writeln!(s, r#"    <text x="{:.1}" y="{:.1}">{label}</text>"#, lx + 20.0, ly + 11.0);
        lx += 40.0 + label.len() as f64 * 6.5;
    }
    let _ = writeln!(
        s,
        r#"    <text x="{:.1}" y="{:.1}" text-anchor="end">% = busy share of the span</text>"#,
        WIDTH - 10.0,
        ly + 11.0
    );
    let _ = writeln!(s, "  </g>");
    s.push_str("</svg>\n");
    s
}

fn fmt_ms(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() || t == "-0" {
        "0".into()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::HAND_TRACE;

    /// Checks that tags are balanced and properly nested; returns the open tags' names
    /// in document order.
    pub fn check_balanced(svg: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut opened = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let after = &rest[i + 1..];
            let j = after.find('>').ok_or("unterminated tag")?;
            let tag = &after[..j];
            if after[j + 1..].find('<').map(|k| after[j + 1..j + 1 + k].contains('>')).unwrap_or(false) {
                return Err(format!("a bare '>' in text after <{tag}>"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().ok_or_else(|| format!("</{name}> closes nothing"))?;
                if top != name.trim() {
                    return Err(format!("</{name}> closes <{top}>"));
                }
            } else if !tag.starts_with('?') && !tag.starts_with('!') {
                let name = tag.split_whitespace().next().unwrap_or("").trim_end_matches('/').to_string();
                if name.is_empty() {
                    return Err("an empty tag".into());
                }
                if tag.matches('"').count() % 2 != 0 {
                    return Err(format!("unbalanced quotes in <{tag}>"));
                }
                opened.push(name.clone());
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &after[j + 1..];
        }
        if let Some(open) = stack.pop() {
            return Err(format!("<{open}> is never closed"));
        }
        Ok(opened)
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(tick_step(10_000.0, 10.0), 1000.0);
        assert_eq!(tick_step(25_000.0, 10.0), 2000.0);
        assert_eq!(tick_step(4_010.0, 10.0), 500.0);
        assert_eq!(fmt_ms(0.5), "0.5");
        assert_eq!(fmt_ms(2.0), "2");
    }

    #[test]
    fn svg_is_balanced_with_one_lane_per_track() {
        let mut t = Trace::parse(HAND_TRACE).unwrap();
        t.tracks[1].name = "core <0> & \"compute\"".into(); // escaping
        let svg = render(&t, "hand <trace>.json");
        let tags = check_balanced(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(tags[0], "svg");
        assert_eq!(svg.matches(r#"<g class="lane""#).count(), t.tracks.len());
        assert!(svg.contains(r#"data-track="app thread 1""#));
        assert!(svg.contains("core &lt;0&gt; &amp; &quot;compute&quot;"));
        assert!(svg.contains(r#"class="axis""#) && svg.contains(r#"class="legend""#));
        // Busy and blocked are drawn: device blue, host green, blocked red.
        assert!(svg.contains(DEVICE) && svg.contains(HOST) && svg.contains(BLOCKED));
        // The core's two requests are two separate blocks (the idle gap shows).
        let core_lane = svg.split(r#"<g class="lane""#).nth(2).unwrap().split("</g>").next().unwrap();
        assert_eq!(core_lane.matches(&format!(r#"fill="{DEVICE}""#)).count(), 2);
    }

    #[test]
    fn the_checker_rejects_broken_markup() {
        assert!(check_balanced("<svg><g></svg>").is_err());
        assert!(check_balanced("<svg><rect x=\"1/></svg>").is_err());
        assert!(check_balanced("<svg>").is_err());
        assert!(check_balanced("<svg><g/></svg>").is_ok());
    }

    #[test]
    fn many_events_merge_to_few_rectangles() {
        let mut events = String::from(
            r#"{"traceEvents": [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1000, "args": {"name": "core 0 compute"}}"#,
        );
        for i in 0..20_000 {
            let _ = write!(
                events,
                r#",{{"ph": "X", "cat": "device", "name": "m", "pid": 1, "tid": 1000, "ts": {}, "dur": 1.0}}"#,
                i as f64 * 1.05
            );
        }
        events.push_str("]}");
        let svg = render(&Trace::parse(&events).unwrap(), "many");
        check_balanced(&svg).unwrap();
        assert!(svg.len() < 20_000, "{} bytes", svg.len());
    }
}
