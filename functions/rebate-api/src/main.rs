use lambda_http::{Error, service_fn};
use tributary::store::DynamoStore;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tributary::telemetry::init();
    let sdk = tributary::aws::load_config().await;
    let store = DynamoStore::from_env(&sdk)?;
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Error>(handler::route(&store, request).await)
    }))
    .await
}
