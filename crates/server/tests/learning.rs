//! The sidecar with `[selector] kind = "learned"`: the report shows the quality model's
//! out-of-sample fit and the learned arms, the exposition their gauges, and a restart from the
//! state folder resumes the learned state exactly.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use creative_feedback_core::Config;
use creative_feedback_server::{Saved, Service, ServiceConfig};

mod common;
use common::{get, json, post, serve};

fn config() -> Config {
    let mut config = common::short_config();
    config.quality.min_samples = 3;
    config.selector.learned.attributes = vec!["domain".into()];
    config
}

fn state(i: u32) -> String {
    let domain = ["poetry", "code"][(i / 60 % 2) as usize];
    common::state_json(i, &format!(r#", "attributes": {{"domain": "{domain}"}}"#))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_and_the_exposition_show_what_was_learned() {
    let (addr, service, task) = serve(ServiceConfig::new(config())).await;
    for i in 0..600 {
        assert_eq!(post(addr, &state(i)).await.status, 200);
    }
    let report = json(&get(addr, "/v1/report").await);
    let arms = report["learned"].as_array().unwrap();
    let names: Vec<&str> = arms
        .iter()
        .map(|a| a["profile"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["constant", "cosine_ramp", "exponential_decay", "pulse"]
    );
    let taught: u64 = arms
        .iter()
        .map(|a| a["explorations"].as_u64().unwrap())
        .sum();
    let ended = service.metrics().metrics.counters.ended();
    assert!(ended > 10);
    assert_eq!(taught, ended);
    assert!(report["quality"]["scored"].as_u64().unwrap() > 0);
    assert!(report["quality"]["out_of_sample_r2"].is_number());
    assert!(report.get("experiment").is_none());

    // The exporter records snapshots on its sink's task: poll until the arms are there.
    let mut text = String::new();
    for _ in 0..400 {
        text = get(addr, "/metrics").await.body;
        if text.contains("creative_feedback_learned_estimate{profile=\"pulse\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for needle in [
        "creative_feedback_learned_estimate{profile=\"pulse\"}",
        "creative_feedback_learned_uncertainty{profile=\"constant\"}",
        "creative_feedback_profile_mean_gain{profile=",
        "creative_feedback_quality_r2 ",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_the_learned_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = ServiceConfig::new(config());
    settings.state_dir = Some(dir.path().to_path_buf());
    let service = Service::start(settings.clone()).unwrap();
    for i in 0..500 {
        service.update(state(i).as_bytes()).unwrap();
    }
    let before = service.metrics().metrics.learned;
    assert!(before
        .as_ref()
        .is_some_and(|arms| arms.iter().any(|a| a.explorations > 0)));
    assert!(matches!(
        service.shutdown(Duration::from_secs(5)).await,
        Saved::Saved { .. }
    ));
    let again = Service::start(settings).unwrap();
    assert_eq!(again.metrics().metrics.learned, before);
}
