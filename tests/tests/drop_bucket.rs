//! Distributor file drops: an object put in the drop bucket is announced on the ingest queue,
//! as S3 notifications do in AWS.

use e2e::Stack;

#[tokio::test]
async fn a_dropped_file_is_announced_on_the_ingest_queue() {
    let stack = Stack::load();
    let config = tributary::testing::sdk_config_for(stack.aws_endpoint()).await;
    let s3 = tributary::aws::s3(&config);
    let sqs = tributary::aws::sqs(&config);
    let key = format!(
        "ptn_e2e/pos/week {}.csv",
        chrono::Utc::now().timestamp_millis()
    );
    s3.put_object()
        .bucket(stack.resource("DropBucket"))
        .key(&key)
        .body(b"sku,qty\nA-1,3\n".to_vec().into())
        .send()
        .await
        .expect("put into the drop bucket");

    let queue = stack.resource("IngestQueue");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from the ingest queue");
        for message in output.messages.unwrap_or_default() {
            let body: serde_json::Value =
                serde_json::from_str(message.body().unwrap_or("{}")).unwrap();
            for record in body["Records"].as_array().into_iter().flatten() {
                seen.push(
                    record["s3"]["object"]["key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        // S3 URL-encodes keys in notifications (a space may arrive as `+` or `%20`).
        if seen
            .iter()
            .any(|k| k.replace('+', " ").replace("%20", " ").replace("%2F", "/") == key)
        {
            return;
        }
    }
    panic!("no notification for {key} on the ingest queue; saw {seen:?}");
}
