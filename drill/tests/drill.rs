//! The short drill CI runs: 100 checkouts under the whole fault script. Its own nextest
//! test group runs it alone (.config/nextest.toml): it kills and restarts processes and
//! wants the machine's two cores.

use cartwright_drill::DrillOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_checkouts_survive_the_fault_script_with_every_invariant_intact() {
    let seed = std::env::var("DRILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let report = cartwright_drill::run(DrillOptions::new(100, seed))
        .await
        .expect("the drill runs");
    println!("{report}");
    assert!(
        report.accepted > 50,
        "most checkouts are accepted:\n{report}"
    );
    assert!(report.is_clean(), "an invariant broke:\n{report}");
}
