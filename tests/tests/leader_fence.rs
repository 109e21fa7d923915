//! The NB leader fence against a real ovsdb-server: each instance raises
//! the leader epoch in `NB_Global` and guards its writes on it; the one
//! whose epoch is no longer the database's is refused as a whole
//! (`Error::Fenced`, not retried) and writes nothing, while the leader's
//! writes go through; two instances raising the epoch at once get
//! different epochs.

use std::time::{Duration, Instant};

use ovn::nb::nb_global::{bump_epoch, LEADER_EPOCH};
use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig, Error};
use ovn::report::Chain;
use ovn::topology::{
    monitor_nb, network_init, tenant_init, NetworkSpec, TenantSpec, TopologyError,
};
use ovn_mesos_tests::OvnCentral;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn connect(central: &OvnCentral) -> Client {
    let config =
        monitor_nb(ClientConfig::new(&central.nb_remote(), NB_DB).unwrap()).monitor("NB_Global");
    Client::connect(config).await.unwrap()
}

fn network(name: &str, octet: u8) -> NetworkSpec {
    NetworkSpec {
        tenant: "coke".into(),
        name: name.into(),
        subnet: format!("192.168.{octet}.0/24").parse().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deposed_leader_writes_nothing_and_the_new_one_writes() {
    let central = blocking(OvnCentral::start).unwrap();
    let (old, new) = (connect(&central).await, connect(&central).await);

    let fence = bump_epoch(&old, LEADER_EPOCH).await.unwrap();
    let first = fence.epoch;
    let tenant = TenantSpec {
        name: "coke".into(),
        cluster_subnet: Some("192.168.0.0/16".parse().unwrap()),
        service_subnet: None,
    };
    tenant_init(&old, &tenant).await.expect("the leader writes");

    // another instance leads now
    let fence = bump_epoch(&new, LEADER_EPOCH).await.unwrap();
    assert_eq!(fence.epoch, first + 1);

    let started = Instant::now();
    let e = network_init(&old, &network("coke1", 1)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a fenced write is not retried ({:?})",
        started.elapsed()
    );
    let fenced = matches!(&e, TopologyError::Ovsdb(Error::Fenced { epoch, .. }) if *epoch == first);
    assert!(fenced, "{}", Chain(&e));
    assert!(
        Chain(&e).to_string().contains("another instance leads"),
        "{}",
        Chain(&e)
    );
    let switches =
        blocking(|| central.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch"]))
            .unwrap();
    assert!(!switches.contains("coke1"), "nothing written: {switches}");

    network_init(&new, &network("coke1", 1))
        .await
        .expect("the new leader writes");
    let switches =
        blocking(|| central.nbctl(&["--bare", "--columns=name", "list", "Logical_Switch"]))
            .unwrap();
    assert!(switches.contains("coke1"), "{switches}");
    let epoch = blocking(|| {
        central.nbctl(&[
            "get",
            "NB_Global",
            ".",
            &format!("external_ids:\"{LEADER_EPOCH}\""),
        ])
    })
    .unwrap();
    assert_eq!(epoch.trim(), format!("\"{}\"", first + 1));

    // two instances raising it at once (one that led before may lead
    // again): different epochs
    let (a, b) = tokio::join!(
        bump_epoch(&old, LEADER_EPOCH),
        bump_epoch(&new, LEADER_EPOCH)
    );
    let (a, b) = (a.unwrap().epoch, b.unwrap().epoch);
    assert_ne!(a, b);
    assert_eq!(a.max(b), first + 3);
    blocking(|| central.check_logs()).unwrap();
}
