//! `loadgen report`: renders the JSON lines a benchmark run collected as Markdown — one table
//! of every run with its result against issue 6's target, and a detail table of the `dm` runs'
//! latency percentiles. The targets live here, in one place.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64().unwrap_or(f64::NAN)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Thousands separators: 52340 → "52,340".
fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn yes(met: bool) -> String {
    if met { "yes".into() } else { "**no**".into() }
}

/// (workload, result, target, met) of one run.
fn row(v: &Value) -> (String, String, String, String) {
    let label = s(v, "label").to_ascii_lowercase();
    let none = || ("—".to_string(), "—".to_string());
    match s(v, "scenario") {
        "dm" => {
            let rate = f(v, &["msgs_per_s"]);
            let workload = if s(v, "mode") == "open" {
                format!(
                    "open loop {} msgs/s, {} pairs, {} s",
                    thousands(f(v, &["rate"])),
                    v["pairs"],
                    v["duration_s"]
                )
            } else {
                format!(
                    "closed loop, {} pairs, window {}, {} s",
                    v["pairs"], v["window"], v["duration_s"]
                )
            };
            let result = format!(
                "{} msgs/s; send→deliver p50 {} / p99 {} ms; {} of {} complete, {} errors, {} shed",
                thousands(rate),
                ms(f(v, &["deliver", "p50_ms"])),
                ms(f(v, &["deliver", "p99_ms"])),
                thousands(f(v, &["complete"])),
                thousands(f(v, &["sent"])),
                v["errors"],
                thousands(f(v, &["shed"]))
            );
            let (target, met) =
                if s(v, "mode") == "closed" && label.contains("sqlite") && !label.contains("off") {
                    ("≥ 50,000 msgs/s".into(), yes(rate >= 50_000.0))
                } else if s(v, "mode") == "open" && f(v, &["rate"]) == 10_000.0 {
                    let p99 = f(v, &["deliver", "p99_ms"]);
                    let kept =
                        f(v, &["complete"]) >= 0.99 * f(v, &["sent"]) && f(v, &["shed"]) == 0.0;
                    (
                        "p99 send→deliver ≤ 20 ms at 10,000 msgs/s".into(),
                        yes(p99 <= 20.0 && kept),
                    )
                } else {
                    none()
                };
            (workload, result, target, met)
        }
        "fanout" => {
            let m = f(v, &["members"]);
            let p99 = f(v, &["last", "p99_ms"]);
            let workload = format!(
                "{} members, {} messages, window {}",
                thousands(m),
                v["messages"],
                v["window"]
            );
            let result = format!(
                "{} deliveries/s; to last member p50 {} / p99 {} ms (first member p50 {} ms)",
                thousands(f(v, &["deliveries_per_s"])),
                ms(f(v, &["last", "p50_ms"])),
                ms(p99),
                ms(f(v, &["first", "p50_ms"]))
            );
            let (target, met) = if m >= 1000.0 && f(v, &["window"]) <= 1.0 {
                ("p99 to all 1,000 ≤ 100 ms".into(), yes(p99 <= 100.0))
            } else {
                none()
            };
            (workload, result, target, met)
        }
        "catchup" => {
            let k = f(v, &["messages"]);
            let last = f(v, &["last_message_s"]);
            let workload = format!("{} queued messages", thousands(k));
            let result = format!(
                "last message after {last:.3} s ({} msgs/s); first batch {} ms; queued at {} msgs/s",
                thousands(f(v, &["msgs_per_s"])),
                ms(f(v, &["first_batch_ms"])),
                thousands(f(v, &["fill_msgs_per_s"]))
            );
            let (target, met) = if k == 10_000.0 {
                ("10,000 in ≤ 1 s".into(), yes(last <= 1.0))
            } else {
                none()
            };
            (workload, result, target, met)
        }
        "idle" => {
            let n = f(v, &["connections"]);
            let kib = f(v, &["kib_per_conn"]);
            let workload = format!(
                "{} idle connections (slope {}→{})",
                thousands(n),
                thousands(f(v, &["first_count"])),
                thousands(n)
            );
            let result = format!(
                "{kib:.1} KiB/connection; server RSS {} → {} MiB; {} failed, {} lost",
                thousands(f(v, &["rss_first_kib"]) / 1024.0),
                thousands(f(v, &["rss_final_kib"]) / 1024.0),
                v["failed"],
                v["lost"]
            );
            let (target, met) = if n >= 10_000.0 {
                (
                    "≤ 20 KiB/connection at 19,000".into(),
                    yes(kib <= 20.0 && n >= 19_000.0),
                )
            } else {
                none()
            };
            (workload, result, target, met)
        }
        "connect" => (
            format!(
                "{} connections, {} handshakes at a time",
                thousands(f(v, &["connections"])),
                v["concurrency"]
            ),
            format!(
                "{} connections/s; to connected p50 {} / p99 {} ms; {} failed",
                thousands(f(v, &["conns_per_s"])),
                ms(f(v, &["connected", "p50_ms"])),
                ms(f(v, &["connected", "p99_ms"])),
                v["failed"]
            ),
            "—".into(),
            "—".into(),
        ),
        other => (other.into(), String::new(), "—".into(), "—".into()),
    }
}

pub fn run(results: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(results)
        .with_context(|| format!("reading {}", results.display()))?;
    let runs: Vec<Value> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    println!("| Setup | Scenario | Workload | Result | Target | Met |");
    println!("|---|---|---|---|---|---|");
    for v in &runs {
        let (workload, result, target, met) = row(v);
        println!(
            "| {} | {} | {workload} | {result} | {target} | {met} |",
            s(v, "label"),
            s(v, "scenario")
        );
    }
    println!();
    println!("`dm` latency detail (milliseconds):");
    println!();
    println!(
        "| Setup | Mode | msgs/s | sent | complete | errors | ack p50 | ack p99 | ack p99.9 | ack max | deliver p50 | deliver p99 | deliver p99.9 | deliver max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for v in runs.iter().filter(|v| s(v, "scenario") == "dm") {
        let mode = if s(v, "mode") == "open" {
            format!("open {}/s", thousands(f(v, &["rate"])))
        } else {
            format!("closed w={}", v["window"])
        };
        let lat = |k: &str| {
            ["p50_ms", "p99_ms", "p999_ms", "max_ms"]
                .iter()
                .map(|p| ms(f(v, &[k, p])))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        println!(
            "| {} | {mode} | {} | {} | {} | {} | {} | {} |",
            s(v, "label"),
            thousands(f(v, &["msgs_per_s"])),
            thousands(f(v, &["sent"])),
            thousands(f(v, &["complete"])),
            v["errors"],
            lat("ack"),
            lat("deliver")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(52340.4), "52,340");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(ms(1.234), "1.23");
        assert_eq!(ms(123.4), "123");
    }

    #[test]
    fn judges_targets() {
        let v: Value = serde_json::json!({
            "scenario": "catchup", "label": "SQLite", "messages": 10000,
            "last_message_s": 0.5, "msgs_per_s": 20000, "first_batch_ms": 3.0,
            "fill_msgs_per_s": 9000
        });
        assert_eq!(row(&v).3, "yes");
        let v: Value = serde_json::json!({
            "scenario": "dm", "label": "SQLite, group commit on", "mode": "closed",
            "msgs_per_s": 20000, "pairs": 50, "window": 16, "duration_s": 10,
            "deliver": {"p50_ms": 1.0, "p99_ms": 2.0}, "complete": 1, "sent": 1, "errors": 0
        });
        assert_eq!(row(&v).3, "**no**");
    }
}
