use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use tributary::store::DynamoStore;
use tributary::workflow::rebates::RebateAccrual;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let sdk = tributary::aws::load_config().await;
    let service = RebateAccrual::new(DynamoStore::from_env(&sdk)?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let service = &service;
        async move { Ok::<_, lambda_runtime::Error>(handler::handle(service, event.payload).await) }
    }))
    .await
}
