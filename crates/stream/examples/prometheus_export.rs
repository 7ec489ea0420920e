//! The guide's §4 "Prometheus integration": a simulated run recorded as Prometheus metrics and
//! served at `/metrics` on 127.0.0.1 (an ephemeral port). The example scrapes itself once and
//! exits, so it is bounded in time.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use creative_feedback_core::{Config, CreativeLoop};
use creative_feedback_sim::{Host, HostConfig};
use creative_feedback_stream::{Dispatcher, PrometheusExporter, PrometheusSink};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = Arc::new(PrometheusExporter::new()?);
    let mut dispatcher = Dispatcher::builder()
        .interval_steps(1)? // every step, as the guide asked; events are never lost either way
        .sink(PrometheusSink::new(Arc::clone(&exporter)))
        .build()?;
    let stats = dispatcher.stats_handle();

    let scrape = Arc::clone(&exporter);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let exporter = Arc::clone(&scrape);
            let stats = stats.clone();
            async move {
                exporter.record_stream_stats(&stats.stats());
                exporter.render()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving http://{addr}/metrics");

    let mut feedback = CreativeLoop::new(Config::default())?;
    let mut host = Host::new(HostConfig::seeded(6))?;
    for _ in 0..20_000 {
        let decision = feedback.update(&host.observe())?;
        host.apply(&decision);
        dispatcher.dispatch(&mut feedback);
    }
    // Scrape ourselves, as Prometheus would, until the sink has recorded the last snapshot
    // (it runs on its own task; bounded).
    let mut response = String::new();
    for _ in 0..500 {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        response.clear();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
            .await??;
        if response.contains("creative_feedback_steps_total 20000") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !response.starts_with("HTTP/1.1 200")
        || !response.contains("creative_feedback_steps_total 20000")
    {
        return Err(format!("the scrape does not show the 20,000 steps:\n{response}").into());
    }
    for line in response
        .lines()
        .filter(|l| l.starts_with("creative_feedback_") && !l.contains("_bucket"))
    {
        println!("{line}");
    }
    dispatcher.shutdown(Duration::from_secs(2)).await;
    server.abort();
    Ok(())
}
