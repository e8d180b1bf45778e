//! Counters, statistics, traces and the JSON they are written in.

use super::report::json_escape;
use super::*;

#[test]
fn counters_add_and_serialise() {
    let before = COUNTERS.get(Counter::QueueFull);
    COUNTERS.add(Counter::QueueFull, 2);
    COUNTERS.hazard(Hazard::WriteAfterRead);
    assert_eq!(COUNTERS.get(Counter::QueueFull), before + 2);
    let j = COUNTERS.to_json();
    assert!(j.starts_with('{') && j.ends_with('}'));
    assert!(j.contains("\"queue_full_absorbed\": "));
    assert_eq!(j.matches(':').count(), NAMES.len());
}

fn observer(trace_cap: usize) -> Observer {
    let mut config = Config::from_lookup(|_| None, None).0;
    config.stats = Some(StatsOut::Stderr);
    config.trace = Some("unused".into());
    config.trace_events = trace_cap;
    Observer::new(&config, "async")
}

static READ: CallStat = CallStat::new("nrt_tensor_read");

#[test]
fn a_wait_is_attributed_to_its_call_tensor_and_hazard() {
    let o = observer(100);
    o.submitted(0, 1);
    std::thread::sleep(std::time::Duration::from_millis(2));
    o.retired(0, 1, 1, 0);
    let t0 = o.begin();
    let name: Arc<str> = Arc::from("logits");
    o.waited(0, Some(1), "read-after-write", Some(&name), 5_000_000);
    // No call site (a unit test has no program outside the library).
    o.end(&READ, t0, nrt_common::site::NONE);
    let stats = o.stats_json();
    assert!(stats.contains("\"tensor\": \"logits\", \"call\": \"nrt_tensor_read\", \"hazard\": \"read-after-write\""));
    assert!(stats.contains("reads of 'logits' waited"), "{stats}");
    let trace = o.trace_json(&o.trace.as_ref().unwrap().1.lock());
    assert!(trace.contains("\"cat\": \"device\""));
    assert!(trace.contains("\"waited_for\": \"core0 #1\""));
    assert!(trace.contains("\"ph\": \"s\"") && trace.contains("\"ph\": \"f\""));
    assert!(trace.contains("\"name\": \"core 0 compute\""));
    assert!(o.stats_text().contains("1. reads of 'logits'"));
}

#[test]
fn waits_are_kept_per_call_site_and_name_it() {
    let o = observer(100);
    let name: Arc<str> = Arc::from("logits");
    // Two sites (libc's write and read stand for two lines of a program).
    let (a, b) = (libc::write as *const () as usize + 1, libc::read as *const () as usize + 1);
    for (site, ns) in [(a, 3_000_000), (b, 1_000_000), (a, 3_000_000)] {
        let t0 = o.begin();
        o.waited(0, Some(1), "read-after-write", Some(&name), ns);
        o.end(&READ, t0, site);
    }
    let waits = o.sorted_waits();
    assert_eq!(waits.len(), 2, "one entry per (site, tensor)");
    assert_eq!((waits[0].0.site, waits[0].1.count), (a, 2));
    // Resolved at report time: a symbol, and the object + offset.
    let (sa, sb) = (super::report::site_text(a).unwrap(), super::report::site_text(b).unwrap());
    assert!(sa.contains("write+0x1") && sa.contains("[libc"), "{sa}");
    assert_ne!(sa, sb);
    let stats = o.stats_json();
    assert!(stats.contains(&format!("\"site\": \"{}\"", json_escape(&sa))), "{stats}");
    let advice = o.advice(10_000_000);
    assert!(advice[0].starts_with(&format!("reads of 'logits' at {sa} waited")), "{advice:?}");
    assert!(advice[1].starts_with(&format!("reads of 'logits' at {sb} waited")), "{advice:?}");
    assert!(o.stats_text().contains(&format!("waited: nrt_tensor_read 'logits' at {sa} (read-after-write)")));
}

#[test]
fn the_ring_keeps_the_newest_and_counts_the_dropped() {
    let o = observer(3);
    for j in 1..=5 {
        o.submitted(0, j);
        o.retired(0, j, 1, 0);
    }
    let ring = o.trace.as_ref().unwrap().1.lock();
    let jobs: Vec<u64> = ring.ordered().map(|e| if let Event::Device { job, .. } = e { *job } else { 0 }).collect();
    assert_eq!(jobs, vec![3, 4, 5]);
    let trace = o.trace_json(&ring);
    assert!(trace.contains("\"dropped_events\": 2"));
}

#[test]
fn quantiles_come_from_the_histogram() {
    static S: CallStat = CallStat::new("q");
    let o = observer(1);
    for _ in 0..98 {
        S.record(&o, 0);
    }
    S.record(&o, 1_000_000);
    S.record(&o, 1_000_000);
    assert_eq!(S.quantile_us(0.5), 0.0);
    let p99 = S.quantile_us(0.99);
    assert!((1000.0..=2100.0).contains(&p99), "{p99}");
}

#[test]
fn json_strings_are_escaped() {
    assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
}
