//! Hostile JSON bodies on every fund, MDF request, claim and ship-and-debit route with a body:
//! mutations of valid bodies never panic the handler and never get a 5xx (see
//! `tributary::testing::fuzz`).

use chrono::{Days, NaiveDate, Utc};
use serde_json::{Value, json};
use tributary::domain::claim::ClaimStatus;
use tributary::domain::{Partner, PartnerKind, PartnerStatus};
use tributary::store::Claims;
use tributary::testing::{self, fuzz};

use super::*;

const SAMPLE: &str = include_str!("../../../../events/claim-upload.json");

fn request(path: &str, body: Value, role: &str, who: &str) -> Request {
    testing::api_request(SAMPLE, "POST", path, Some(body), role, who)
}

fn day(offset: i64) -> NaiveDate {
    let today = Utc::now().date_naive();
    if offset < 0 {
        today - Days::new(offset.unsigned_abs())
    } else {
        today + Days::new(offset as u64)
    }
}

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

fn fund_body(partner: &Partner) -> Value {
    json!({"partner_id": partner.id, "name": "MDF", "amount": usd("100000"),
        "starts_on": day(-90), "ends_on": day(90), "expires_on": day(120)})
}

fn claim_body(fund: &str, amount: &str) -> Value {
    json!({"fund_id": fund, "activity_type": "event", "activity_starts_on": day(-3),
        "activity_ends_on": day(-2), "amount": usd(amount), "invoice_number": "EVT-1",
        "documents": [{"file_name": "invoice.pdf", "content_type": "application/pdf", "size": 5},
            {"file_name": "attendees.csv", "content_type": "text/csv", "size": 20}]})
}

/// Sends `request`, asserts the status and returns the JSON body.
async fn created(service: &ClaimService, request: Request, expected: u16) -> Value {
    let response = route(service, request).await;
    let body = testing::response_json(&response);
    assert_eq!(response.status().as_u16(), expected, "{body}");
    body
}

async fn fund(service: &ClaimService, partner: &Partner) -> String {
    let fund = created(
        service,
        request("/funds", fund_body(partner), "vendor_admin", "ada"),
        201,
    )
    .await;
    fund["id"].as_str().unwrap().to_string()
}

/// A claim of `amount` USD, its documents uploaded, submitted and validated.
async fn validated(
    service: &ClaimService,
    partner: &Partner,
    fund: &str,
    amount: &str,
    n: usize,
) -> String {
    let mut body = claim_body(fund, amount);
    body["invoice_number"] = format!("INV-{n}").into();
    let who = partner.id.as_str();
    let draft = created(service, request("/claims", body, "partner", who), 201).await;
    for document in draft["claim"]["documents"].as_array().unwrap() {
        service
            .s3
            .put_object()
            .bucket(&service.settings.documents_bucket)
            .key(document["key"].as_str().unwrap())
            .content_type(
                document["content_type"]
                    .as_str()
                    .unwrap_or("application/pdf"),
            )
            .body(b"%PDF-".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let id = draft["claim"]["id"].as_str().unwrap().to_string();
    created(
        service,
        request(&format!("/claims/{id}/submit"), json!({}), "partner", who),
        202,
    )
    .await;
    service.validate(&id.parse().unwrap()).await.unwrap();
    id
}

#[tokio::test]
async fn fund_mdf_request_and_claim_bodies_never_get_a_server_error() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner).await;
    let who = partner.id.as_str();
    fuzz::check_route(
        "POST /funds",
        &fund_body(&partner),
        |body| request("/funds", body, "vendor_admin", "ada"),
        |r| route(&service, r),
    )
    .await;
    let mdf = json!({"fund_id": fund_id, "activity_type": "event", "starts_on": day(-3),
        "ends_on": day(-2), "cost": usd("9000"), "requested": usd("7000"),
        "expected_outcome": "60 leads"});
    fuzz::check_route(
        "POST /mdf-requests",
        &mdf,
        |body| request("/mdf-requests", body, "partner", who),
        |r| route(&service, r),
    )
    .await;
    fuzz::check_route(
        "POST /claims",
        &claim_body(&fund_id, "750.00"),
        |body| request("/claims", body, "partner", who),
        |r| route(&service, r),
    )
    .await;
    // Decisions on an undecided request: a new one once a case decided the last.
    let reject = json!({"decision": "reject", "reason": "no budget left"});
    let mut open: Option<String> = None;
    for (name, sample) in [
        ("approve", json!({"decision": "approve"})),
        ("reject", reject),
    ] {
        for mutant in fuzz::mutants(
            &format!("POST /mdf-requests/{{id}}/decision ({name})"),
            &sample,
        ) {
            let id = match open.take() {
                Some(id) => id,
                None => {
                    let made = request("/mdf-requests", mdf.clone(), "partner", who);
                    created(&service, made, 201).await["id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                }
            };
            let path = format!("/mdf-requests/{id}/decision");
            let request = request(&path, mutant.body, "channel_manager", "mia");
            let response =
                testing::send_user_request(&mutant.what, |r| route(&service, r), request).await;
            if !response.status().is_success() {
                open = Some(id);
            }
        }
    }
}

/// Decisions on claims in review and payments of approved claims: each case meets a claim in
/// the state its route expects (a new one once a case moved the last).
#[tokio::test]
async fn claim_decision_and_payment_bodies_never_get_a_server_error() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner).await;
    let mut n = 0;
    let reject = json!({"decision": "reject", "reason": "no attendee list"});
    let mut open: Option<String> = None;
    for (name, sample) in [
        ("approve", json!({"decision": "approve"})),
        ("reject", reject),
    ] {
        for mutant in fuzz::mutants(&format!("POST /claims/{{id}}/decision ({name})"), &sample) {
            let id = match open.take() {
                Some(id) => id,
                None => {
                    n += 1;
                    let id = validated(&service, &partner, &fund_id, "2000", n).await;
                    let claim = service.store.get_claim(&id.parse().unwrap()).await.unwrap();
                    assert_eq!(claim.unwrap().status, ClaimStatus::NeedsReview);
                    id
                }
            };
            let path = format!("/claims/{id}/decision");
            let request = request(&path, mutant.body, "channel_manager", "mia");
            let response =
                testing::send_user_request(&mutant.what, |r| route(&service, r), request).await;
            if !response.status().is_success() {
                open = Some(id);
            }
        }
    }
    let mut approved: Option<String> = None;
    let sample = json!({"payment_reference": "ERP-77"});
    for mutant in fuzz::mutants("POST /claims/{id}/payment", &sample) {
        let id = match approved.take() {
            Some(id) => id,
            None => {
                n += 1;
                let id = validated(&service, &partner, &fund_id, "500", n).await;
                let claim = service.store.get_claim(&id.parse().unwrap()).await.unwrap();
                assert_eq!(claim.unwrap().status, ClaimStatus::Approved);
                id
            }
        };
        let path = format!("/claims/{id}/payment");
        let request = request(&path, mutant.body, "channel_manager", "mia");
        let response =
            testing::send_user_request(&mutant.what, |r| route(&service, r), request).await;
        if !response.status().is_success() {
            approved = Some(id);
        }
    }
}

#[tokio::test]
async fn ship_debit_bodies_never_get_a_server_error() {
    use tributary::domain::Money;
    use tributary::domain::pos::{FileId, PosLine, TransactionType};
    use tributary::store::{Partners, PosStore, StoredLine};

    let (service, reseller) = testing::claim_service().await;
    let distributor = Partner::new(
        "Fabrikam",
        PartnerKind::Distributor,
        "US",
        PartnerStatus::Active,
        Utc::now(),
    )
    .unwrap();
    service.store.create_partner(&distributor).await.unwrap();
    let lines: Vec<StoredLine> = ["A", "B"]
        .iter()
        .enumerate()
        .map(|(i, invoice)| {
            let line = PosLine {
                distributor: distributor.id.clone(),
                reseller_id: Some(reseller.id.clone()),
                reseller_name: None,
                end_customer_name: Some("Contoso Hospital".into()),
                end_customer_country: None,
                sku: "SEC-FW-500".into(),
                quantity: 3,
                unit_price: Money::parse("900", "USD").unwrap(),
                invoice_number: (*invoice).into(),
                line_number: "1".into(),
                invoice_date: Utc::now().date_naive(),
                transaction_type: TransactionType::ShipAndDebit,
                held: false,
            };
            StoredLine {
                key: line.key(),
                file: FileId::of_object("b", "k", "v"),
                row: i as u64 + 2,
                line: serde_json::to_string(&line).unwrap(),
                held: None,
            }
        })
        .collect();
    service.store.put_lines(lines, 1).await.unwrap();
    let authorization = json!({"distributor_id": distributor.id, "sku": "SEC-FW-500",
        "end_customer": "Contoso Hospital, Inc.", "book_cost": usd("1000.00"),
        "authorized_cost": usd("820.00"), "max_quantity": 10, "starts_on": day(-30),
        "ends_on": day(30)});
    let made = request(
        "/ship-debit/authorizations",
        authorization.clone(),
        "vendor_admin",
        "ada",
    );
    let auth = created(&service, made, 201).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fuzz::check_route(
        "POST /ship-debit/authorizations",
        &authorization,
        |body| request("/ship-debit/authorizations", body, "vendor_admin", "ada"),
        |r| route(&service, r),
    )
    .await;
    let claim = json!({"authorization_id": auth, "lines": [
        {"invoice_number": "A", "line_number": "1"}, {"invoice_number": "B", "line_number": "1"}]});
    fuzz::check_route(
        "POST /ship-debit/claims",
        &claim,
        |body| {
            request(
                "/ship-debit/claims",
                body,
                "distributor",
                distributor.id.as_str(),
            )
        },
        |r| route(&service, r),
    )
    .await;
}
