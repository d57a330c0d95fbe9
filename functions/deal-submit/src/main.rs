use lambda_http::{Error, service_fn};
use tributary::config::CommonConfig;
use tributary::messaging::SqsPublisher;
use tributary::store::DynamoStore;
use tributary::workflow::deals::DealSettings;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tributary::telemetry::init();
    let config = CommonConfig::from_env()?;
    let settings = DealSettings::from_env()?;
    let sdk = tributary::aws::load_config().await;
    let store = DynamoStore::new(tributary::aws::dynamodb(&sdk), config.table_name);
    let publisher = SqsPublisher::new(tributary::aws::sqs(&sdk));
    let deps = handler::Deps {
        store,
        publisher,
        settings,
    };
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Error>(handler::route(&deps, request).await)
    }))
    .await
}
