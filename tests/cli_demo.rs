//! `nrt-shim demo` end to end, small: the legacy program four ways on the simulator
//! (sync, the implicit mode under each fence rule, the shim), the table, a trace and
//! timeline of each (the runs without the shim traced by cli/demo/timeline.c), and
//! compare.svg with all of them on one time axis. Watchdog: 120 s.

mod support;
#[path = "../cli/tests/svg_check/mod.rs"]
mod svg_check;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{nrt_shim_binary, Gen, Value};

#[test]
fn demo_runs_four_ways_and_draws_them_on_one_axis() {
    let _machine = support::shared_machine();
    let nrt_shim = nrt_shim_binary();
    let dir = std::env::temp_dir().join(format!("nrt-cli-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The program and the timing interposer side by side, as `cargo xtask demo` leaves them.
    let program = dir.join("double_buffer");
    std::fs::copy(support::compile("tests/legacy/p2_double_buffer.c", Gen::V3, false), &program).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-pthread"])
        .arg(format!("-I{}", support::repo_root().join("include").display()))
        .arg(support::repo_root().join("cli/demo/timeline.c"))
        .arg("-o")
        .arg(dir.join("libnrt_demo_timeline.so"))
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(st.success());
    let sim_root = dir.join("nrt-sim");
    std::fs::create_dir_all(&sim_root).unwrap();
    std::os::unix::fs::symlink(support::sim_dir(Gen::V3), sim_root.join("lib")).unwrap();

    let out_dir = dir.join("out");
    let mut child = Command::new(&nrt_shim)
        .args(["demo", "--iterations", "20", "--program"])
        .arg(&program)
        .arg("--out")
        .arg(&out_dir)
        .env("NRT_SHIM_LIB", support::shim_lib())
        .env("NRT_SHIM_SIM_DIR", &sim_root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("watchdog: nrt-shim demo still running after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    const RUNS: [&str; 4] = ["sync", "implicit-all", "implicit-storage", "shim"];
    let header = text.lines().position(|l| l.starts_with("config")).expect("the table");
    assert!(text.lines().nth(header).unwrap().contains("vs implicit"), "{text}");
    for (i, name) in RUNS.iter().enumerate() {
        let row = text.lines().nth(header + 1 + i).unwrap_or_default();
        assert!(row.starts_with(&format!("{name} ")) && row.contains('%'), "row {i} is {name}:\n{text}");
        assert!(!text.contains("HAZARDS"), "{text}");
        let trace: Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join(format!("{name}.trace.json"))).unwrap())
                .unwrap_or_else(|e| panic!("{name}.trace.json: {e}"));
        let device = trace["traceEvents"].as_array().unwrap().iter().filter(|e| e["cat"] == "device").count();
        assert_eq!(device, 20, "{name}: one device slice per request");
        let svg = svg_check::parse(&std::fs::read_to_string(out_dir.join(format!("{name}.svg"))).unwrap())
            .unwrap_or_else(|e| panic!("{name}.svg: {e}"));
        assert_eq!(svg.with_class("g", "run").len(), 1, "{name}.svg: one run");
        assert_eq!(svg.with_class("g", "lane").len(), 2, "{name}: app thread + core 0");
        assert!(text.contains(&out_dir.join(format!("{name}.svg")).display().to_string()), "names the file:\n{text}");
    }
    // Five runs each (the default --repeat), the median's files kept, the others gone.
    assert!(text.contains("each configuration 5 time(s), alternating"), "{text}");
    for f in std::fs::read_dir(&out_dir).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let ok = name == "compare.svg"
            || RUNS.iter().any(|r| {
                ["report.json", "trace.json", "timeline.txt", "svg"].iter().any(|s| name == format!("{r}.{s}"))
            });
        assert!(ok, "a stray file in the output: {name}");
    }
    // The shim is judged against the faster implicit run, the slower named too.
    assert!(text.contains("vs implicit: against the faster implicit run, implicit-"), "{text}");
    assert!(text.contains("Against the slower, implicit-"), "{text}");

    // compare.svg: printed first, one group per run in order, each with its label and
    // figures, one shared axis, a legend.
    let compare = out_dir.join("compare.svg");
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let compare_line = at(&compare.display().to_string()).unwrap_or_else(|| panic!("names compare.svg:\n{text}"));
    assert!(compare_line < at("sync.report.json").unwrap(), "compare.svg first:\n{text}");
    let picture = std::fs::read_to_string(&compare).unwrap();
    let root = svg_check::parse(&picture).unwrap_or_else(|e| panic!("compare.svg: {e}\n{picture}"));
    assert_eq!(root.name, "svg");
    assert_eq!(root.with_class("g", "axis").len(), 1, "one shared axis");
    assert_eq!(root.with_class("g", "legend").len(), 1);
    let runs = root.with_class("g", "run");
    assert_eq!(runs.iter().map(|r| r.attr("data-label").unwrap()).collect::<Vec<_>>(), RUNS);
    // Every colour drawn is in the legend.
    let legend = root.with_class("g", "legend")[0];
    let swatches: Vec<&str> = legend.find_all(&|e| e.name == "rect").iter().filter_map(|r| r.attr("fill")).collect();
    for rect in root.find_all(&|e| e.name == "rect" && e.attr("fill") != Some("white")) {
        assert!(swatches.contains(&rect.attr("fill").unwrap()), "{:?} is not in the legend", rect.attr("fill"));
    }
    for r in &runs {
        let label = r.attr("data-label").unwrap();
        assert_eq!(r.with_class("text", "run-label")[0].text().trim(), label);
        assert_eq!(r.with_class("g", "lane").len(), 2, "{label}");
        let figures = r.with_class("text", "run-figures")[0].text();
        let words: Vec<&str> = figures.split_whitespace().collect();
        // "wall 12.3 ms · device busy 45%", the numbers those of the group's data.
        assert_eq!(words.len(), 7, "{figures}");
        assert_eq!((words[0], words[2], words[4], words[5]), ("wall", "ms", "device", "busy"), "{figures}");
        assert_eq!(Some(words[1]), r.attr("data-wall-ms"), "{figures}");
        assert_eq!(Some(words[6].trim_end_matches('%')), r.attr("data-device-busy"), "{figures}");
        assert!(words[1].parse::<f64>().unwrap() > 0.0, "{figures}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
