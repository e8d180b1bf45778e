//! Small drawing helpers of the timeline pictures: escaping, axis ticks, text width
//! estimates (so labels can be fitted instead of overlapping), and busy intervals
//! turned into pixel columns.

use std::fmt::Write as _;

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

/// Milliseconds without trailing zeros: 0.5, 2, 12.25.
pub fn fmt_ms(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() || t == "-0" {
        "0".into()
    } else {
        t.to_string()
    }
}

/// A generous estimate of the width of `s` in a sans-serif font of `size` px (the
/// widest common glyphs; a real layout engine is not worth it for labels).
pub fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    let per = if bold { 0.62 } else { 0.58 };
    s.chars().count() as f64 * size * per
}

/// `s`, shortened with an ellipsis so that it fits in `width` px.
pub fn fit(s: &str, width: f64, size: f64, bold: bool) -> String {
    if text_width(s, size, bold) <= width {
        return s.to_string();
    }
    let keep = ((width / (size * if bold { 0.62 } else { 0.58 })) as usize).saturating_sub(1);
    let mut out: String = s.chars().take(keep).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// `s` broken at spaces into lines of at most `width` px.
pub fn wrap(s: &str, width: f64, size: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if !line.is_empty() && text_width(&candidate, size, false) > width {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The busy share of each of `n` pixel columns, from merged, sorted intervals (us);
/// column 0 starts at `origin` us and each is `us_per_px` wide.
pub fn coverage(intervals: &[(f64, f64)], origin: f64, us_per_px: f64, n: usize) -> Vec<f64> {
    let mut cols = vec![0.0; n];
    if us_per_px <= 0.0 || n == 0 {
        return cols;
    }
    for &(a, b) in intervals {
        let (pa, pb) = (((a - origin) / us_per_px).max(0.0), ((b - origin) / us_per_px).min(n as f64));
        if pb <= pa {
            continue;
        }
        let (first, last) = (pa.floor() as usize, (pb.ceil() as usize).min(n));
        for (c, col) in cols.iter_mut().enumerate().take(last).skip(first) {
            let lo = pa.max(c as f64);
            let hi = pb.min(c as f64 + 1.0);
            *col += (hi - lo).max(0.0);
        }
    }
    for c in &mut cols {
        *c = c.min(1.0);
    }
    cols
}

/// Opacity steps of a partly busy pixel column: a column busy for a quarter of its
/// time is drawn at the first step, fully busy at 1. Dense traces then show their real
/// share of busy time instead of a solid block.
pub const LEVELS: [f64; 4] = [0.3, 0.55, 0.8, 1.0];

fn level(share: f64) -> usize {
    if share < 0.03 {
        0
    } else {
        ((share * 4.0).round() as usize).clamp(1, 4)
    }
}

/// Rectangles for the columns (x from `left`), one per run of columns at the same level.
pub fn column_rects(s: &mut String, cols: &[f64], left: f64, y: f64, h: f64, fill: &str) {
    let mut c = 0;
    while c < cols.len() {
        let l = level(cols[c]);
        let mut end = c + 1;
        while end < cols.len() && level(cols[end]) == l {
            end += 1;
        }
        if l > 0 {
            let opacity = if l == 4 { String::new() } else { format!(r#" fill-opacity="{}""#, LEVELS[l - 1]) };
            let _ = writeln!(
                s,
                r#"      <rect x="{:.0}" y="{y:.1}" width="{}" height="{h:.1}" fill="{fill}"{opacity}/>"#,
                left + c as f64,
                end - c
            );
        }
        c = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        assert_eq!(tick_step(10_000.0, 10.0), 1000.0);
        assert_eq!(tick_step(25_000.0, 10.0), 2000.0);
        assert_eq!(tick_step(4_010.0, 10.0), 500.0);
        assert_eq!(fmt_ms(0.5), "0.5");
        assert_eq!(fmt_ms(2.0), "2");
    }

    #[test]
    fn text_is_fitted_and_wrapped() {
        assert_eq!(fit("short", 100.0, 12.0, false), "short");
        let long = "a rather long label that cannot fit";
        let f = fit(long, 80.0, 12.0, false);
        assert!(f.ends_with('…') && text_width(&f, 12.0, false) <= 80.0 + 12.0, "{f}");
        let lines = wrap("one two three four five six", 60.0, 10.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| text_width(l, 10.0, false) <= 60.0), "{lines:?}");
        assert_eq!(lines.join(" "), "one two three four five six");
    }

    #[test]
    fn coverage_counts_partial_columns() {
        // 10 us per column: [5, 25) covers half of column 0, all of 1, half of 2.
        let c = coverage(&[(5.0, 25.0), (40.0, 41.0)], 0.0, 10.0, 5);
        let want = [0.5, 1.0, 0.5, 0.0, 0.1];
        assert!(c.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9), "{c:?}");
        let mut s = String::new();
        column_rects(&mut s, &c, 100.0, 0.0, 10.0, "#000");
        // Half, full, half at 0.55; the 10% column at the lowest step.
        assert_eq!(s.matches("<rect").count(), 4, "{s}");
        assert!(s.contains(r##"x="101" y="0.0" width="1" height="10.0" fill="#000"/>"##), "{s}");
        assert!(s.contains(r##"x="104" y="0.0" width="1" height="10.0" fill="#000" fill-opacity="0.3"/>"##), "{s}");
    }

    #[test]
    fn a_dense_half_busy_lane_is_drawn_half_busy() {
        // 10,000 slices of 1 us every 2 us over 20 px: every column half busy.
        let iv: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64 * 2.0, i as f64 * 2.0 + 1.0)).collect();
        let c = coverage(&iv, 0.0, 1000.0, 20);
        assert!(c.iter().all(|v| (v - 0.5).abs() < 1e-9), "{c:?}");
        let mut s = String::new();
        column_rects(&mut s, &c, 0.0, 0.0, 1.0, "#000");
        assert_eq!(s.matches("<rect").count(), 1);
        assert!(s.contains(r#"width="20""#) && s.contains(r#"fill-opacity="0.55""#), "{s}");
    }
}
