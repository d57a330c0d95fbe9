use lambda_runtime::{LambdaEvent, service_fn};
use tributary::workflow::claims::ClaimService;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let service = ClaimService::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        handler::handle_event(&service, event.payload).await
    }))
    .await
}
