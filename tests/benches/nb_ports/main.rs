//! Provisioning task ports into a real NB, compared (`cargo bench -p
//! ovn-mesos-tests --bench nb_ports`): the ovn-mesos client with one
//! transaction per port against `ovn-nbctl` per process, `ovn-nbctl` daemon
//! mode, a raw JSON-RPC loop (the floor) and batched variants; then the
//! client's per-port cost with 1,000 vs 20,000 ports already in the NB.
//! Prints a table, ratios and PASS/FAIL lines for the targets; exits 1 if a
//! target fails. `NB_PORTS_SCALE=0.1` runs a tenth of every count (a smoke run).

mod methods;
mod setup;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context;
use ovn::ovsdb::Client;
use ovn::ports::{create_task_port, create_task_ports_batch, TaskPortSpec};
use uuid::Uuid;

use methods::Raw;
use setup::{spec, Nb};

/// One measured method.
struct Row {
    what: String,
    ports: usize,
    existing: usize,
    took: Duration,
}

impl Row {
    fn per_port(&self) -> Duration {
        self.took / self.ports.max(1) as u32
    }
    fn rate(&self) -> f64 {
        self.ports as f64 / self.took.as_secs_f64()
    }
}

fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("NB_PORTS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale).round() as usize).max(1)
}

/// (a): `create_task_port` one after the other on a fresh switch.
async fn client_per_port(
    nb: &mut Nb,
    client: &Client,
    name: &str,
    n: usize,
) -> anyhow::Result<Duration> {
    nb.add_switch(client, name).await?;
    let specs: Vec<TaskPortSpec> = (0..n).map(|i| spec(name, &format!("{name}-{i}"))).collect();
    // One warm-up port (index built, code paths hot), not counted.
    create_task_port(client, &spec(name, &format!("{name}-warmup"))).await?;
    let start = Instant::now();
    for s in &specs {
        create_task_port(client, s).await?;
    }
    Ok(start.elapsed())
}

/// (a) into a switch first filled (batched) with `crowded` ports.
async fn client_into_crowded_switch(
    nb: &mut Nb,
    client: &Client,
    crowded: usize,
    n: usize,
) -> anyhow::Result<(Duration, Uuid, Ipv4Addr)> {
    let (uuid, net) = nb.add_switch(client, "crowded").await?;
    let specs: Vec<TaskPortSpec> = (0..crowded)
        .map(|i| spec("crowded", &format!("crowded-{i}")))
        .collect();
    for chunk in specs.chunks(500) {
        create_task_ports_batch(client, chunk).await?;
    }
    let start = Instant::now();
    for i in 0..n {
        create_task_port(client, &spec("crowded", &format!("more-{i}"))).await?;
    }
    Ok((start.elapsed(), uuid, net))
}

/// (e, client): `create_task_ports_batch` of `batch` ports per transaction.
async fn client_batched(
    nb: &mut Nb,
    client: &Client,
    name: &str,
    n: usize,
    batch: usize,
) -> anyhow::Result<Duration> {
    nb.add_switch(client, name).await?;
    let specs: Vec<TaskPortSpec> = (0..n).map(|i| spec(name, &format!("{name}-{i}"))).collect();
    let start = Instant::now();
    for chunk in specs.chunks(batch) {
        create_task_ports_batch(client, chunk).await?;
    }
    Ok(start.elapsed())
}

fn check(results: &mut Vec<(String, bool)>, what: String, ok: bool) {
    results.push((what, ok));
}

/// Best of `rounds` timings (the machine is shared: the fastest run is the
/// one least disturbed).
fn best(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (fill, n_a, n_b, n_c, n_d, n_e, batch) = (
        scaled(5000),
        scaled(1000),
        scaled(50),
        scaled(200),
        scaled(1000),
        scaled(1000),
        100,
    );
    let rounds = 3;
    let mut rows = Vec::new();

    // Part 1: everything against one NB holding `fill` ports (more as it goes:
    // the `existing` column says how many).
    let mut nb = Nb::start()?;
    let client = rt.block_on(nb.connect())?;
    let t = Instant::now();
    rt.block_on(nb.fill(&client, fill, 1000))?;
    println!(
        "filled the NB with {fill} ports in {:.2} s (batched, 500 per transaction)",
        t.elapsed().as_secs_f64()
    );
    let (_, net_b) = rt.block_on(nb.add_switch(&client, "b"))?;
    let (_, net_c) = rt.block_on(nb.add_switch(&client, "c"))?;
    let (_, net_e) = rt.block_on(nb.add_switch(&client, "e2"))?;
    rt.block_on(client.close());
    drop(client);
    // The ovn-nbctl methods run with no monitoring client attached.
    let took = methods::nbctl_per_process(&nb, "b", net_b, n_b)?;
    rows.push(Row {
        what: "(b) ovn-nbctl, 1 process per port".into(),
        ports: n_b,
        existing: fill,
        took,
    });
    let took = methods::nbctl_daemon(&nb, "c", net_c, n_c)?;
    rows.push(Row {
        what: "(c) ovn-nbctl daemon mode".into(),
        ports: n_c,
        existing: fill + n_b,
        took,
    });
    let took = methods::nbctl_batched(&nb, "e2", net_e, n_e, batch)?;
    let existing_e = fill + n_b + n_c;
    rows.push(Row {
        what: format!("(e) ovn-nbctl, {batch} chained per process"),
        ports: n_e,
        existing: existing_e,
        took,
    });
    let client = rt.block_on(nb.connect())?;
    let took = rt.block_on(client_batched(&mut nb, &client, "e1", n_e, batch))?;
    rows.push(Row {
        what: format!("(e) ovn-mesos client, {batch} per txn"),
        ports: n_e,
        existing: existing_e + n_e,
        took,
    });
    rt.block_on(client.close());
    drop(client);
    let existing = fill + n_b + n_c + 2 * n_e;
    // (a), (d) and (d+m) alternate, best of `rounds` each; each on a fresh switch.
    let (mut a, mut d, mut dm, mut ct) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let client = rt.block_on(nb.connect())?;
        a.push(rt.block_on(client_per_port(&mut nb, &client, &format!("a{round}"), n_a))?);
        let (sw_d, net_d) = rt.block_on(nb.add_switch(&client, &format!("d{round}")))?;
        let (sw_m, net_m) = rt.block_on(nb.add_switch(&client, &format!("m{round}")))?;
        rt.block_on(client.close());
        drop(client);
        d.push(methods::raw_jsonrpc(
            &nb.sock,
            sw_d,
            &format!("d{round}"),
            net_d,
            (0, n_d),
            Raw::Bare,
        )?);
        dm.push(methods::raw_jsonrpc(
            &nb.sock,
            sw_m,
            &format!("m{round}"),
            net_m,
            (0, n_d),
            Raw::MonitorAndGuard,
        )?);
        // The same client on a single-threaded runtime, for comparison.
        let single = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        ct.push(single.block_on(async {
            let client = nb.connect().await?;
            let took = client_per_port(&mut nb, &client, &format!("t{round}"), n_a).await;
            client.close().await;
            took
        })?);
    }
    rows.push(Row {
        what: "(a) ovn-mesos client, 1 txn per port".into(),
        ports: n_a,
        existing,
        took: best(&a),
    });
    rows.push(Row {
        what: "(d) raw JSON-RPC loop (floor)".into(),
        ports: n_d,
        existing,
        took: best(&d),
    });
    rows.push(Row {
        what: "(d+m) raw loop + monitor".into(),
        ports: n_d,
        existing,
        took: best(&dm),
    });
    rows.push(Row {
        what: "(a') client on a current-thread runtime".into(),
        ports: n_a,
        existing,
        took: best(&ct),
    });
    drop(nb);

    // Part 2: the client's per-port cost at 1,000 vs 20,000 existing ports,
    // best of `rounds` fresh switches each.
    let n_scale = scaled(500);
    let (base, big) = (scaled(1000), scaled(20000));
    let mut nb = Nb::start()?;
    let client = rt.block_on(nb.connect())?;
    rt.block_on(nb.fill(&client, base, 1000))?;
    let mut at_small = Vec::new();
    for round in 0..rounds {
        at_small.push(rt.block_on(client_per_port(
            &mut nb,
            &client,
            &format!("s{round}"),
            n_scale,
        ))?);
    }
    let now = base + rounds * (n_scale + 1);
    let t = Instant::now();
    rt.block_on(nb.fill(&client, big - now, 1000))?;
    println!(
        "filled the second NB up to {big} ports in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let mut at_large = Vec::new();
    for round in 0..rounds {
        at_large.push(rt.block_on(client_per_port(
            &mut nb,
            &client,
            &format!("l{round}"),
            n_scale,
        ))?);
    }
    // For information: the same into one switch that already holds many ports
    // (the switch's `ports` set is what grows the per-port cost there).
    let crowded = scaled(3500);
    let (took, crowded_sw, crowded_net) = rt.block_on(client_into_crowded_switch(
        &mut nb, &client, crowded, n_scale,
    ))?;
    let info = Row {
        what: format!("(a) into a switch holding {crowded} ports (info)"),
        ports: n_scale,
        existing: big + crowded,
        took,
    };
    rt.block_on(client.close());
    drop(client);
    let took = methods::raw_jsonrpc(
        &nb.sock,
        crowded_sw,
        "crowded-raw",
        crowded_net,
        (crowded + n_scale, n_scale),
        Raw::Bare,
    )?;
    let info_raw = Row {
        what: format!("(d) into that switch ({} ports, info)", crowded + n_scale),
        ports: n_scale,
        existing: big + crowded + n_scale,
        took,
    };
    drop(nb);
    let small = Row {
        what: "(a) at 1,000 existing ports".into(),
        ports: n_scale,
        existing: base,
        took: best(&at_small),
    };
    let large = Row {
        what: "(a) at 20,000 existing ports".into(),
        ports: n_scale,
        existing: big,
        took: best(&at_large),
    };

    println!();
    println!(
        "{:<44} {:>6} {:>9} {:>9} {:>11} {:>10}",
        "method", "ports", "existing", "total s", "per port", "ports/s"
    );
    for r in rows.iter().chain([&small, &large, &info, &info_raw]) {
        println!(
            "{:<44} {:>6} {:>9} {:>9.3} {:>8.3} ms {:>10.0}",
            r.what,
            r.ports,
            r.existing,
            r.took.as_secs_f64(),
            r.per_port().as_secs_f64() * 1e3,
            r.rate()
        );
    }
    let get = |p: &str| {
        rows.iter()
            .find(|r| r.what.starts_with(p))
            .context("missing row")
    };
    let (a, b, c, d) = (get("(a) ")?, get("(b)")?, get("(c)")?, get("(d) ")?);
    let (dm, single) = (get("(d+m)")?, get("(a')")?);
    let (e_client, e_nbctl) = (get("(e) ovn-mesos")?, get("(e) ovn-nbctl")?);
    let vs_process = a.rate() / b.rate();
    let vs_daemon = a.rate() / c.rate();
    let vs_floor = a.per_port().as_secs_f64() / d.per_port().as_secs_f64();
    let batched = e_client.rate() / e_nbctl.rate();
    let growth = large.per_port().as_secs_f64() / small.per_port().as_secs_f64();
    let vs_monitor = a.per_port().as_secs_f64() / dm.per_port().as_secs_f64();
    let single_vs_monitor = single.per_port().as_secs_f64() / dm.per_port().as_secs_f64();
    println!();
    println!("ratios: (a)/(b) rate {vs_process:.0}x, (a)/(c) rate {vs_daemon:.1}x, (a)/(d) cost {vs_floor:.2}x, (e) client/nbctl rate {batched:.1}x, cost at 20k/1k {growth:.2}x");
    println!("        (a)/(d+m) cost {vs_monitor:.2}x, (a')/(d+m) cost {single_vs_monitor:.2}x (a cache-keeping floor)");
    let mut results = Vec::new();
    check(
        &mut results,
        format!("(a) >= 200x the per-process rate: {vs_process:.0}x"),
        vs_process >= 200.0,
    );
    check(
        &mut results,
        format!("(a) >= 15x the daemon-mode rate: {vs_daemon:.1}x"),
        vs_daemon >= 15.0,
    );
    check(
        &mut results,
        format!("(a) within 1.5x of the raw floor (d): {vs_floor:.2}x"),
        vs_floor <= 1.5,
    );
    check(
        &mut results,
        format!("per-port cost at 20,000 within 1.5x of 1,000: {growth:.2}x"),
        growth <= 1.5,
    );
    for (what, ok) in &results {
        println!("{} {what}", if *ok { "PASS" } else { "FAIL" });
    }
    if results.iter().any(|(_, ok)| !ok) {
        std::process::exit(1);
    }
    Ok(())
}
