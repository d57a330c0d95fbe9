use lambda_http::{Error, service_fn};
use tributary::config::CommonConfig;
use tributary::store::DynamoStore;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tributary::telemetry::init();
    let config = CommonConfig::from_env()?;
    let sdk = tributary::aws::load_config().await;
    let store = DynamoStore::new(tributary::aws::dynamodb(&sdk), config.table_name);
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Error>(handler::route(&store, request).await)
    }))
    .await
}
