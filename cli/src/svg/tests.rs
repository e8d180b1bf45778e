use super::*;
use crate::report::HAND_TRACE;

#[path = "../../tests/svg_check/mod.rs"]
mod svg_check;
use svg_check::Element;

/// The picture's root element, or a panic saying why it is not well-formed.
fn parsed(svg: &str) -> Element {
    svg_check::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"))
}

/// The x ranges of `fill`'s rectangles in `part`, joined where they touch.
fn blocks(part: &str, fill: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for r in part.split("<rect ").skip(1).filter(|r| r.contains(&format!(r#"fill="{fill}""#))) {
        let num = |k: &str| -> f64 {
            let v = r.split(&format!(r#"{k}=""#)).nth(1).unwrap();
            v[..v.find('"').unwrap()].parse().unwrap()
        };
        let (a, b) = (num("x"), num("x") + num("width"));
        match out.last_mut() {
            Some(last) if a <= last.1 + 0.01 => last.1 = b,
            _ => out.push((a, b)),
        }
    }
    out
}

#[test]
fn svg_is_balanced_with_one_lane_per_track() {
    let mut t = Trace::parse(HAND_TRACE).unwrap();
    t.tracks[1].name = "core <0> & \"compute\"".into(); // escaping
    let svg = render(&t, "hand <trace>.json", "mode async");
    let root = parsed(&svg);
    assert_eq!(root.name, "svg");
    let runs = root.with_class("g", "run");
    assert_eq!(runs.len(), 1);
    let lanes = runs[0].with_class("g", "lane");
    assert_eq!(lanes.len(), t.tracks.len());
    assert_eq!(lanes[0].attr("data-track"), Some("app thread 1"));
    assert_eq!(lanes[1].attr("data-track"), Some("core <0> & \"compute\""));
    assert!(svg.contains("core &lt;0&gt; &amp; &quot;compute&quot;"));
    assert!(root.with_class("text", "title")[0].text().contains("hand <trace>.json"));
    assert_eq!(root.with_class("g", "axis").len(), 1);
    assert_eq!(root.with_class("g", "legend").len(), 1);
    // 2 ms of 4.01 busy on the one core.
    assert_eq!(runs[0].with_class("text", "run-figures")[0].text().trim(), "wall 4.01 ms · device busy 50%");
    // Busy and blocked are drawn: device blue, host green, blocked red.
    assert!(svg.contains(DEVICE) && svg.contains(HOST) && svg.contains(BLOCKED));
    // The core's two requests are two separate blocks (the idle gap shows), each
    // about 1000/4010 of the plot wide.
    let core_lane = svg.split(r#"<g class="lane""#).nth(2).unwrap().split("</g>").next().unwrap();
    let b = blocks(core_lane, DEVICE);
    assert_eq!(b.len(), 2, "{core_lane}");
    for (a, e) in b {
        assert!(((e - a) - 1000.0 / 4010.0 * PLOT).abs() < 2.0, "{a}..{e}");
    }
}

#[test]
fn runs_share_one_axis_and_each_has_its_group() {
    let long = Trace::parse(HAND_TRACE).unwrap();
    // The same program twice as fast: every time halved.
    let mut short = long.clone();
    for tr in &mut short.tracks {
        for sl in &mut tr.slices {
            sl.ts /= 2.0;
            sl.dur /= 2.0;
            sl.blocked_us /= 2.0;
        }
    }
    short.start /= 2.0;
    short.end /= 2.0;
    short.other.insert("note".into(), "the note & its < escaping".into());
    let svg = render_runs(
        "before & after",
        &[
            Run { label: "before".into(), detail: "sync".into(), trace: &long },
            Run { label: "after".into(), detail: "shim".into(), trace: &short },
        ],
    );
    let root = parsed(&svg);
    assert_eq!(root.with_class("g", "axis").len(), 1, "one shared axis");
    let groups = root.with_class("g", "run");
    assert_eq!(groups.iter().map(|g| g.attr("data-label").unwrap()).collect::<Vec<_>>(), ["before", "after"]);
    assert_eq!(groups[1].with_class("text", "run-detail")[0].text().trim(), "shim");
    let runs: Vec<&str> = svg.split(r#"<g class="run""#).skip(1).collect();
    assert_eq!(runs.len(), 2);
    assert!(runs[0].contains(r#"data-label="before""#) && runs[0].contains("wall 4.01 ms · device busy 50%"));
    assert!(runs[1].contains(r#"data-label="after""#) && runs[1].contains("wall 2.00 ms · device busy 50%"));
    // On the shared axis the shorter run ends halfway.
    let end = |r: &str| -> f64 {
        let v = r.split(r#"class="run-end" x1=""#).nth(1).unwrap();
        v[..v.find('"').unwrap()].parse().unwrap()
    };
    assert!((end(runs[0]) - (LEFT + PLOT)).abs() < 0.1 && (end(runs[1]) - (LEFT + PLOT / 2.0)).abs() < 0.1);
    assert!(svg.contains("after: the note &amp; its &lt; escaping"));
    assert!(svg.contains("2 runs on one time axis"));
}

#[test]
fn the_checker_rejects_broken_markup() {
    for bad in [
        "<svg><g></svg>",
        "<svg><rect x=\"1/></svg>",
        "<svg>",
        "<svg>a & b</svg>",
        "<svg x=1/>",
        "<svg x=\"1\" x=\"2\"/>",
        "<svg x=\"<\"/>",
        "<svg/><svg/>",
        "<svg>&nbsp;</svg>",
    ] {
        assert!(svg_check::parse(bad).is_err(), "{bad}");
    }
    let ok = svg_check::parse("<?xml version=\"1.0\"?>\n<svg a=\"&lt;1&gt;\"><g/>x &amp; y</svg>\n").unwrap();
    assert_eq!((ok.attr("a"), ok.text().trim()), (Some("<1>"), "x & y"));
}

#[test]
fn many_events_make_few_rectangles_and_keep_their_share() {
    let mut events = String::from(
        r#"{"traceEvents": [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1000, "args": {"name": "core 0 compute"}}"#,
    );
    // 20,000 slices of 1 us every 2 us: half busy, far below a pixel each.
    for i in 0..20_000 {
        let _ = write!(
            events,
            r#",{{"ph": "X", "cat": "device", "name": "m", "pid": 1, "tid": 1000, "ts": {}, "dur": 1.0}}"#,
            i as f64 * 2.0
        );
    }
    events.push_str("]}");
    let svg = render(&Trace::parse(&events).unwrap(), "many", "");
    parsed(&svg);
    assert!(svg.len() < 20_000, "{} bytes", svg.len());
    // Drawn half busy (the 0.55 step), not as a solid block.
    let lane = svg.split(r#"<g class="lane""#).nth(1).unwrap().split("</g>").next().unwrap();
    assert!(lane.contains(r#"fill-opacity="0.55""#), "{lane}");
    assert!(svg.contains("device busy 50%"));
}

#[test]
fn an_empty_trace_draws_a_run_without_lanes() {
    let t = Trace::parse(r#"{"traceEvents": []}"#).unwrap();
    let svg = render(&t, "empty", "");
    parsed(&svg);
    assert!(svg.contains("(no tracks)") && svg.contains("no device lane"));
}

/// A trace of `steps` steps of 1 ms: the device busy for `busy` us of each, the host
/// blocked until it is done.
fn steady(steps: usize, busy: f64) -> Trace {
    let mut ev = String::from(
        r#"{"traceEvents": [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "app thread 1"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1000, "args": {"name": "core 0 compute"}}"#,
    );
    for i in 0..steps {
        let t = i as f64 * 1000.0;
        let _ = write!(
            ev,
            r#",{{"ph": "X", "cat": "device", "name": "m", "pid": 1, "tid": 1000, "ts": {t}, "dur": {busy}}},
            {{"ph": "X", "cat": "host", "name": "nrt_tensor_read", "pid": 1, "tid": 1, "ts": {t}, "dur": {busy}, "args": {{"blocked_us": {busy}}}}}"#
        );
    }
    ev.push_str("]}");
    Trace::parse(&ev).unwrap()
}

#[test]
fn dense_runs_get_a_detail_panel_of_a_typical_stretch() {
    // A stall in the middle of the slow run: 20 steps of device idle.
    let mut slow = steady(400, 400.0);
    for tr in &mut slow.tracks {
        tr.slices.retain(|s| !(150_000.0..170_000.0).contains(&s.ts));
    }
    let fast = steady(400, 950.0);
    let svg = render_runs(
        "t",
        &[
            Run { label: "slow".into(), detail: String::new(), trace: &slow },
            Run { label: "fast".into(), detail: String::new(), trace: &fast },
        ],
    );
    let root = parsed(&svg);
    assert_eq!(root.with_class("g", "run").len(), 2);
    assert_eq!(root.with_class("g", "axis").len(), 1);
    let detail = root.with_class("g", "detail-run");
    assert_eq!(detail.iter().map(|d| d.attr("data-label").unwrap()).collect::<Vec<_>>(), ["slow", "fast"]);
    assert_eq!(root.with_class("g", "detail-axis").len(), 1);
    // 20 ms wide (400 ms / 20), away from the stall: the single steps are distinct blocks.
    let title = root.with_class("text", "detail-title")[0].text();
    let from: f64 = title.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(!(130.0..170.0).contains(&from), "{title}");
    assert!(title.contains("20x wider"), "{title}");
    let lane = detail[0].with_class("g", "detail-lane");
    let device = lane.iter().find(|l| l.attr("data-kind") == Some("device")).unwrap();
    let mut blocks: Vec<(f64, f64)> = Vec::new();
    for r in device.find_all(&|e| e.name == "rect" && e.attr("fill") == Some(DEVICE)) {
        let num = |k: &str| r.attr(k).unwrap().parse::<f64>().unwrap();
        let (a, b) = (num("x"), num("x") + num("width"));
        match blocks.last_mut() {
            Some(last) if a <= last.1 + 0.01 => last.1 = b,
            _ => blocks.push((a, b)),
        }
    }
    assert!((19..=21).contains(&blocks.len()), "{} blocks of 20 steps: {blocks:?}", blocks.len());

    // A sparse trace has none.
    let few = render(&Trace::parse(HAND_TRACE).unwrap(), "few", "");
    assert!(parsed(&few).with_class("g", "detail-run").is_empty());
}
