use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use tributary::workflow::pos::PosIngest;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let service = PosIngest::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let service = &service;
        async move {
            let deadline = handler::deadline(event.context.deadline);
            Ok::<_, lambda_runtime::Error>(handler::handle(service, event.payload, deadline).await)
        }
    }))
    .await
}
