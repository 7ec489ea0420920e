//! The guide's §5 "Error handling": missing keys get defaults, out-of-range values are clamped,
//! every correction is reported; NaN, infinities and wrong types are rejected naming every
//! field, and the loop is untouched. No input panics.

use creative_feedback::{Action, Config, CreativeLoop, InputMode, ReadState, State};

fn main() -> anyhow::Result<()> {
    let mut feedback = CreativeLoop::new(Config::default())?; // lenient by default
    let inputs = [
        r#"{"aesthetic_score": 0.6}"#,                  // novelty missing
        r#"{"novelty": 1.7, "aesthetic_score": -0.2}"#, // out of range
        r#"{"novelty": NaN, "aesthetic_score": "good", "coherence": "chaotic"}"#, // rejected
        r#"{"novelty": 0.5, "aesthetic_score": 0.5, "lambda_max": Infinity}"#, // an infinite instability
        r#"{"novelty": 0.5, "aesthetic_score": 0.5, "history": [1, 2, 3]}"#,   // ignored nested key
        r#"{"novelty": 0.5,"#,                                                 // not JSON at all
    ];
    for text in inputs {
        let action = match ReadState::from_json(text) {
            Err(e) => {
                println!("{text}\n  unreadable: {e}");
                Action::Maintain // the guide's safe fallback
            }
            Ok(read) => match feedback.update_read(&read) {
                Ok(decision) => {
                    for w in &decision.warnings {
                        println!("{text}\n  corrected {w}");
                    }
                    decision.action
                }
                Err(rejected) => {
                    println!("{text}\n  rejected: {rejected}");
                    Action::Maintain
                }
            },
        };
        println!("  → host does: {action}");
    }
    let c = feedback.counters();
    println!(
        "\nsteps {}, input corrections {}, rejected inputs {}",
        feedback.steps(),
        c.input_corrections,
        c.rejected_inputs
    );

    let mut strict = CreativeLoop::new(Config {
        input_mode: InputMode::Strict,
        ..Config::default()
    })?;
    let err = strict.update(&State {
        novelty: Some(1.7),
        ..State::default()
    });
    println!(
        "strict mode: {}",
        err.err().map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}
