use lambda_http::{Error, service_fn};
use tributary::messaging::SqsPublisher;
use tributary::store::DynamoStore;
use tributary::workflow::held_lines::HeldLines;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tributary::telemetry::init();
    let sdk = tributary::aws::load_config().await;
    let store = DynamoStore::from_env(&sdk)?;
    let held = HeldLines {
        store,
        publisher: SqsPublisher::new(tributary::aws::sqs(&sdk)),
        sales_queue_url: tributary::config::required("POS_SALES_QUEUE_URL")?,
    };
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Error>(handler::route(&held, request).await)
    }))
    .await
}
