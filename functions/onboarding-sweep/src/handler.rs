//! The onboarding schedule (EventBridge): every active partner's tier from its trailing
//! 12-month sales and certifications (upgrades and downgrades recorded and announced), and
//! reminders for onboardings stalled longer than the reminder period.

use chrono::Utc;
use serde_json::Value;
use tributary::workflow::onboarding::OnboardingService;

pub async fn handle(
    service: &OnboardingService,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    if event.get("source").and_then(Value::as_str) != Some("aws.events") {
        return Err("onboarding-sweep expects a scheduled event".into());
    }
    let summary = service.sweep(Utc::now()).await?;
    tracing::info!(?summary, "onboarding sweep done");
    Ok(serde_json::to_value(summary)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary::testing;

    #[tokio::test]
    async fn the_sample_event_runs_the_sweep_and_anything_else_is_refused() {
        let service = testing::onboarding_service().await;
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/onboarding-sweep.json")).unwrap();
        let summary = handle(&service, sample).await.unwrap();
        assert_eq!(summary["reminders"], 0);
        assert!(
            handle(&service, serde_json::json!({"Records": []}))
                .await
                .is_err()
        );
    }
}
