use lambda_runtime::{LambdaEvent, service_fn};
use tributary::store::DynamoStore;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let sdk = tributary::aws::load_config().await;
    let store = DynamoStore::from_env(&sdk)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async {
        handler::authorize(&store, event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
