//! The guide's §2 "Automatic profile selection": a domain rule over the state's attributes,
//! falling back to the default selector for everything else.

use creative_feedback::{
    Config, CreativeLoop, Profile, ProfileSelector, ReadState, Selection, SelectionContext, State,
};

/// The guide's `CustomCreativeFeedback._select_entropy_profile`.
struct ConversationSelector;

impl ProfileSelector for ConversationSelector {
    fn select(&mut self, ctx: &SelectionContext<'_>) -> Selection {
        let state = &ctx.observation;
        // Use pulse for stuck conversations.
        if state.flag("conversation_stalled") {
            return Profile::Pulse { frequency: 3.0 }.into();
        }
        // Use decay for overheated discussions.
        if state.number("temperature").is_some_and(|t| t > 0.8) {
            return Profile::ExponentialDecay { decay_rate: 2.0 }.into();
        }
        // Use a ramp for gentle exploration.
        if state.number("user_comfort").is_some_and(|c| c < 0.5) {
            return Profile::CosineRamp {
                ramp_fraction: 0.25,
            }
            .into();
        }
        // Fall back to the default rule.
        ctx.default_choice().into()
    }
}

fn main() -> anyhow::Result<()> {
    let cases = [
        (
            "stalled conversation",
            State::new(0.85, 0.6).with_attribute("conversation_stalled", true),
        ),
        (
            "overheated discussion",
            State::new(0.85, 0.6).with_attribute("temperature", 0.9),
        ),
        (
            "uncomfortable user",
            State::new(0.85, 0.6).with_attribute("user_comfort", 0.3),
        ),
        ("nothing special (default rule)", State::new(0.85, 0.6)),
        (
            "from JSON, flat keys",
            ReadState::from_json(
                r#"{"novelty": 0.1, "aesthetic_score": 0.6, "temperature": 0.95}"#,
            )?
            .state,
        ),
    ];
    for (label, state) in cases {
        let mut feedback = CreativeLoop::builder(Config::default())
            .selector(ConversationSelector)
            .build()?;
        let decision = feedback.update(&state)?;
        let profile = decision
            .exploration
            .map(|e| e.profile.to_string())
            .unwrap_or_default();
        println!("{label:<32} → {:?} with {profile}", decision.action);
    }
    Ok(())
}
