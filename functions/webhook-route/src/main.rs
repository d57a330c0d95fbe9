use lambda_runtime::{LambdaEvent, service_fn};
use tributary::workflow::webhooks::WebhookRouter;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let router = WebhookRouter::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        handler::handle_event(&router, event.payload).await
    }))
    .await
}
