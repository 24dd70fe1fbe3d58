//! `loadgen report`: renders the JSON lines a benchmark run collected as Markdown — the table of
//! issue 12's targets (each figure beside its target and the Node peer's figure of the same
//! run), one table of every run with its result against its target, and a detail table of the
//! `dm` runs' latency percentiles. The targets live here, in one place. Runs are found by their
//! `setup` key (`sqlite-full`, `sqlite-normal`, `sqlite-full-nogc`, `postgres`, `peer-full`,
//! `peer-normal`), as `scripts/bench.sh` sets it.

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

fn mib(kib: f64) -> String {
    if kib.is_finite() {
        format!("{:.1} MiB", kib / 1024.0)
    } else {
        "n/a".into()
    }
}

/// The durable, default-configured SQLite setups a throughput target applies to.
fn sqlite_durable(setup: &str) -> bool {
    setup == "sqlite-full" || setup == "sqlite-normal"
}

/// (workload, result, target, met) of one run.
fn row(v: &Value) -> (String, String, String, String) {
    let setup = s(v, "setup");
    let none = || ("—".to_string(), "—".to_string());
    match s(v, "scenario") {
        "dm" => {
            let rate = f(v, &["msgs_per_s"]);
            let by = match s(v, "addressing") {
                "" => String::new(),
                a => format!(", by `{a}`"),
            };
            let workload = if s(v, "mode") == "open" {
                format!(
                    "open loop {} msgs/s, {} pairs, {} s{by}",
                    thousands(f(v, &["rate"])),
                    v["pairs"],
                    v["duration_s"]
                )
            } else {
                format!(
                    "closed loop, {} pairs, window {}, {} s{by}",
                    v["pairs"], v["window"], v["duration_s"]
                )
            };
            let mut result = format!(
                "{} msgs/s; send→deliver p50 {} / p99 {} ms; {} of {} complete, {} errors, {} shed",
                thousands(rate),
                ms(f(v, &["deliver", "p50_ms"])),
                ms(f(v, &["deliver", "p99_ms"])),
                thousands(f(v, &["complete"])),
                thousands(f(v, &["sent"])),
                v["errors"],
                thousands(f(v, &["shed"]))
            );
            if v["rss_peak_kib"].is_number() {
                result.push_str(&format!(
                    "; server RSS peak {}",
                    mib(f(v, &["rss_peak_kib"]))
                ));
            }
            let closed = s(v, "mode") == "closed";
            let (target, met) = if closed && sqlite_durable(setup) {
                ("≥ 50,000 msgs/s".into(), yes(rate >= 50_000.0))
            } else if closed && setup == "postgres" {
                ("≥ 15,000 msgs/s".into(), yes(rate >= 15_000.0))
            } else if s(v, "mode") == "open"
                && f(v, &["rate"]) == 10_000.0
                && !setup.starts_with("peer")
            {
                let p99 = f(v, &["deliver", "p99_ms"]);
                let kept = f(v, &["complete"]) >= 0.99 * f(v, &["sent"]) && f(v, &["shed"]) == 0.0;
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
        "storm" => {
            let after_reg = f(v, &["rss_after_register_kib"]);
            let after_login = f(v, &["rss_after_login_kib"]);
            (
                format!(
                    "{n} registrations, then {n} logins, at once",
                    n = thousands(f(v, &["count"]))
                ),
                format!(
                    "server RSS {} before; {} after the registrations ({:.1} s, {} retried), {} after the logins ({:.1} s, {} retried); peak {}",
                    mib(f(v, &["rss_before_kib"])),
                    mib(after_reg),
                    f(v, &["register_s"]),
                    thousands(f(v, &["register_busy"])),
                    mib(after_login),
                    f(v, &["login_s"]),
                    thousands(f(v, &["login_busy"])),
                    mib(f(v, &["hwm_after_login_kib"]))
                ),
                "≤ 64 MiB after".into(),
                yes(after_reg.max(after_login) <= 64.0 * 1024.0),
            )
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

/// The first run of `setup` and `scenario` that `pick` accepts.
fn find<'a>(
    runs: &'a [Value],
    setup: &str,
    scenario: &str,
    pick: impl Fn(&Value) -> bool,
) -> Option<&'a Value> {
    runs.iter()
        .find(|v| s(v, "setup") == setup && s(v, "scenario") == scenario && pick(v))
}

fn closed_dm(addressing: &'static str) -> impl Fn(&Value) -> bool {
    move |v| s(v, "mode") == "closed" && s(v, "addressing") == addressing
}

fn open_dm(rate: f64) -> impl Fn(&Value) -> bool {
    move |v| s(v, "mode") == "open" && f(v, &["rate"]) == rate
}

/// Issue 12's table: (figure, target, Missive, Node peer, met) rows; a figure whose run is
/// missing reads "not run".
fn targets(runs: &[Value]) -> Vec<[String; 5]> {
    let not_run = || "not run".to_string();
    let rate = |v: Option<&Value>| v.map(|v| f(v, &["msgs_per_s"]));
    let show_rate = |r: Option<f64>| {
        r.map(|r| format!("{} msgs/s", thousands(r)))
            .unwrap_or_else(not_run)
    };
    let met = |x: Option<bool>| x.map(yes).unwrap_or_else(|| "—".into());
    let mut out = Vec::new();

    let peer_full = rate(find(runs, "peer-full", "dm", closed_dm("to")));
    let peer_normal = rate(find(runs, "peer-normal", "dm", closed_dm("to")));
    for (addressing, label) in [("to", "`to` (a user id)"), ("room_id", "`room_id`")] {
        let r = rate(find(runs, "sqlite-full", "dm", closed_dm(addressing)));
        out.push([
            format!(
                "durable DM msgs/s, closed loop, SQLite (default: synchronous=FULL), by {label}"
            ),
            "≥ 50,000".into(),
            show_rate(r),
            if addressing == "to" {
                show_rate(peer_full)
            } else {
                "—".into()
            },
            met(r.map(|r| r >= 50_000.0)),
        ]);
    }
    for (setup, peer, sync) in [
        ("sqlite-full", peer_full, "FULL"),
        ("sqlite-normal", peer_normal, "NORMAL"),
    ] {
        let r = rate(find(runs, setup, "dm", closed_dm("to")));
        let ratio = r.zip(peer).map(|(m, p)| m / p);
        out.push([
            format!("the same against the Node peer, same run, both synchronous={sync}, by `to`"),
            "≥ 3×".into(),
            show_rate(r),
            show_rate(peer),
            match ratio {
                Some(x) => format!("{x:.2}× — {}", met(Some(x >= 3.0))),
                None => "—".into(),
            },
        ]);
    }
    let p99 = |v: Option<&Value>| {
        v.map(|v| {
            format!(
                "p99 {} ms ({} msgs/s, {} shed)",
                ms(f(v, &["deliver", "p99_ms"])),
                thousands(f(v, &["msgs_per_s"])),
                thousands(f(v, &["shed"]))
            )
        })
        .unwrap_or_else(not_run)
    };
    let open = find(runs, "sqlite-full", "dm", open_dm(10_000.0));
    out.push([
        "p99 send→deliver at 10,000 msgs/s offered, SQLite, by `to`".into(),
        "≤ 20 ms".into(),
        p99(open),
        p99(find(runs, "peer-full", "dm", open_dm(10_000.0))),
        met(open.map(|v| f(v, &["deliver", "p99_ms"]) <= 20.0 && f(v, &["shed"]) == 0.0)),
    ]);
    for (addressing, label) in [("to", "`to`"), ("room_id", "`room_id`")] {
        let r = rate(find(runs, "postgres", "dm", closed_dm(addressing)));
        out.push([
            format!("durable DM msgs/s, closed loop, single node on Postgres, by {label}"),
            "≥ 15,000".into(),
            show_rate(r),
            "—".into(),
            met(r.map(|r| r >= 15_000.0)),
        ]);
    }
    let idle = find(runs, "sqlite-full", "idle", |_| true);
    out.push([
        format!(
            "server memory per idle authenticated connection at {}, SQLite",
            idle.map(|v| thousands(f(v, &["connections"])))
                .unwrap_or_else(|| "19,000".into())
        ),
        "≤ 20 KiB".into(),
        idle.map(|v| format!("{:.1} KiB", f(v, &["kib_per_conn"])))
            .unwrap_or_else(not_run),
        "—".into(),
        met(idle.map(|v| f(v, &["kib_per_conn"]) <= 20.0 && f(v, &["connections"]) >= 19_000.0)),
    ]);
    let storm = find(runs, "sqlite-full", "storm", |_| true);
    for (key, what) in [
        ("rss_after_register_kib", "registrations"),
        ("rss_after_login_kib", "logins"),
    ] {
        out.push([
            format!(
                "server RSS after {} concurrent {what}",
                storm
                    .map(|v| thousands(f(v, &["count"])))
                    .unwrap_or_else(|| "1,000".into())
            ),
            "≤ 64 MiB".into(),
            storm.map(|v| mib(f(v, &[key]))).unwrap_or_else(not_run),
            "— (no accounts)".into(),
            met(storm.map(|v| f(v, &[key]) <= 64.0 * 1024.0 && f(v, &["count"]) >= 1000.0)),
        ]);
    }
    let peak = |v: Option<&Value>| v.map(|v| f(v, &["rss_peak_kib"]));
    let m = peak(find(runs, "sqlite-full", "dm", closed_dm("to")));
    out.push([
        "server RSS during the DM benchmark (peak, closed loop by `to`, SQLite)".into(),
        "≤ 64 MiB".into(),
        m.map(mib).unwrap_or_else(not_run),
        peak(find(runs, "peer-full", "dm", closed_dm("to")))
            .map(mib)
            .unwrap_or_else(not_run),
        met(m.map(|k| k <= 64.0 * 1024.0)),
    ]);
    let catchup = find(runs, "sqlite-full", "catchup", |v| {
        f(v, &["messages"]) == 10_000.0
    });
    out.push([
        "catch-up of 10,000 queued messages, SQLite".into(),
        "≤ 1 s".into(),
        catchup
            .map(|v| format!("{:.3} s", f(v, &["last_message_s"])))
            .unwrap_or_else(not_run),
        "—".into(),
        met(catchup.map(|v| f(v, &["last_message_s"]) <= 1.0)),
    ]);
    let fanout = find(runs, "sqlite-full", "fanout", |v| {
        f(v, &["members"]) >= 1000.0
    });
    out.push([
        "1,000-member fan-out, p99 to the last member, SQLite".into(),
        "≤ 100 ms".into(),
        fanout
            .map(|v| format!("{} ms", ms(f(v, &["last", "p99_ms"]))))
            .unwrap_or_else(not_run),
        "—".into(),
        met(fanout.map(|v| f(v, &["last", "p99_ms"]) <= 100.0)),
    ]);
    out
}

pub fn run(results: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(results)
        .with_context(|| format!("reading {}", results.display()))?;
    let runs: Vec<Value> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    println!("## Issue 12's targets");
    println!();
    println!("| Figure | Target | Missive | Node peer (same run) | Met |");
    println!("|---|---|---|---|---|");
    for [figure, target, missive, peer, met] in targets(&runs) {
        println!("| {figure} | {target} | {missive} | {peer} | {met} |");
    }
    println!();
    println!("## Every run");
    println!();
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
        "| Setup | Mode | By | msgs/s | sent | complete | errors | ack p50 | ack p99 | ack p99.9 | ack max | deliver p50 | deliver p99 | deliver p99.9 | deliver max | RSS peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
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
            "| {} | {mode} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s(v, "label"),
            s(v, "addressing"),
            thousands(f(v, &["msgs_per_s"])),
            thousands(f(v, &["sent"])),
            thousands(f(v, &["complete"])),
            v["errors"],
            lat("ack"),
            lat("deliver"),
            mib(f(v, &["rss_peak_kib"]))
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
            "scenario": "dm", "label": "SQLite", "setup": "sqlite-full", "mode": "closed",
            "msgs_per_s": 20000, "pairs": 50, "window": 16, "duration_s": 10,
            "deliver": {"p50_ms": 1.0, "p99_ms": 2.0}, "complete": 1, "sent": 1, "errors": 0
        });
        assert_eq!(row(&v).3, "**no**");
        let v: Value = serde_json::json!({
            "scenario": "storm", "setup": "sqlite-full", "count": 1000,
            "rss_after_register_kib": 50_000, "rss_after_login_kib": 70_000
        });
        assert_eq!(
            row(&v).3,
            "**no**",
            "70,000 KiB after the logins is over 64 MiB"
        );
    }

    #[test]
    fn the_target_table_sets_missive_beside_the_peer_of_the_same_run() {
        let dm = |setup: &str, addressing: &str, rate: f64| {
            serde_json::json!({
                "scenario": "dm", "setup": setup, "addressing": addressing, "mode": "closed",
                "msgs_per_s": rate, "rss_peak_kib": 40_000
            })
        };
        let runs = vec![
            dm("sqlite-full", "to", 60_000.0),
            dm("sqlite-full", "room_id", 55_000.0),
            dm("peer-full", "to", 10_000.0),
            dm("sqlite-normal", "to", 60_000.0),
            dm("peer-normal", "to", 30_000.0),
        ];
        let t = targets(&runs);
        let by_figure = |start: &str| {
            t.iter()
                .find(|r| r[0].starts_with(start))
                .unwrap_or_else(|| panic!("no row {start}"))
                .clone()
        };
        let to = by_figure(
            "durable DM msgs/s, closed loop, SQLite (default: synchronous=FULL), by `to`",
        );
        assert_eq!(to[2], "60,000 msgs/s");
        assert_eq!(to[3], "10,000 msgs/s");
        assert_eq!(to[4], "yes");
        let full = by_figure("the same against the Node peer, same run, both synchronous=FULL");
        assert_eq!(full[4], "6.00× — yes");
        let normal = by_figure("the same against the Node peer, same run, both synchronous=NORMAL");
        assert_eq!(normal[4], "2.00× — **no**");
        let pg = by_figure("durable DM msgs/s, closed loop, single node on Postgres, by `to`");
        assert_eq!(pg[2], "not run");
        assert_eq!(pg[4], "—");
        let rss = by_figure("server RSS during the DM benchmark");
        assert_eq!(rss[2], "39.1 MiB");
        assert_eq!(rss[4], "yes");
    }
}
