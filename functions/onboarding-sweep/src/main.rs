use lambda_runtime::{LambdaEvent, service_fn};
use tributary::workflow::onboarding::OnboardingService;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let service = OnboardingService::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        handler::handle(&service, event.payload).await
    }))
    .await
}
