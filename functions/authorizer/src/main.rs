use lambda_runtime::{LambdaEvent, service_fn};
use tributary::config::CommonConfig;
use tributary::store::DynamoStore;

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary::telemetry::init();
    let config = CommonConfig::from_env()?;
    let sdk = tributary::aws::load_config().await;
    let store = DynamoStore::new(tributary::aws::dynamodb(&sdk), config.table_name);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async {
        handler::authorize(&store, event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
