use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use tributary::workflow::webhooks::WebhookRouter;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let router = WebhookRouter::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let router = &router;
        async move { Ok::<_, lambda_runtime::Error>(handler::handle(router, event.payload).await) }
    }))
    .await
}
