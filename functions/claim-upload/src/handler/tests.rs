use chrono::{Days, NaiveDate, Utc};
use tributary::domain::claim::{ClaimStatus, FundKind, RejectionCode};
use tributary::domain::{KeyId, Partner, PartnerStatus, Principal, Role};
use tributary::store::Claims;
use tributary::testing::{self, response_json};

use super::*;

fn principal(role: Role, id: &str) -> Principal {
    Principal {
        id: id.to_string(),
        role,
        key_id: KeyId::from_bytes([0; 8]),
    }
}

fn request(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    role: &str,
    who: &str,
) -> Request {
    testing::api_request(
        include_str!("../../../../events/claim-upload.json"),
        method,
        path,
        body,
        role,
        who,
    )
}

async fn call(
    service: &ClaimService,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    role: &str,
    who: &str,
) -> (StatusCode, serde_json::Value) {
    let response = route(service, request(method, path, body, role, who)).await;
    (response.status(), response_json(&response))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A fund of `amount` USD for `partner`, covering the last and next 90 days.
async fn fund(service: &ClaimService, partner: &Partner, amount: &str) -> String {
    let (status, fund) = call(
        service,
        "POST",
        "/funds",
        Some(serde_json::json!({
            "partner_id": partner.id, "name": "MDF", "amount": {"amount": amount, "currency": "USD"},
            "starts_on": today().checked_sub_days(Days::new(90)).unwrap(),
            "ends_on": today().checked_add_days(Days::new(90)).unwrap(),
            "expires_on": today().checked_add_days(Days::new(120)).unwrap(),
        })),
        "vendor_admin",
        "ada",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{fund}");
    fund["id"].as_str().unwrap().to_string()
}

fn claim_body(fund: &str, amount: &str, invoice: &str) -> serde_json::Value {
    serde_json::json!({
        "fund_id": fund, "activity_type": "event",
        "activity_starts_on": today().checked_sub_days(Days::new(3)).unwrap(),
        "activity_ends_on": today().checked_sub_days(Days::new(2)).unwrap(),
        "amount": {"amount": amount, "currency": "USD"}, "invoice_number": invoice,
        "documents": [{"file_name": "invoice.pdf", "content_type": "application/pdf", "size": 5}]
    })
}

/// Creates a claim through the API; uploads its document (unless `upload` is false) and
/// submits it. Returns the claim id.
async fn submitted(
    service: &ClaimService,
    partner: &Partner,
    body: serde_json::Value,
    upload: Option<&str>,
) -> ClaimId {
    let who = partner.id.as_str();
    let (status, created) = call(service, "POST", "/claims", Some(body), "partner", who).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["uploads"][0]["method"], "PUT");
    assert!(
        created["uploads"][0]["url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature")
    );
    let id: ClaimId = created["claim"]["id"].as_str().unwrap().parse().unwrap();
    if let Some(content_type) = upload {
        service
            .s3
            .put_object()
            .bucket(&service.settings.documents_bucket)
            .key(created["claim"]["documents"][0]["key"].as_str().unwrap())
            .content_type(content_type)
            .body(b"%PDF-".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let path = format!("/claims/{id}/submit");
    let (status, claim) = call(service, "POST", &path, None, "partner", who).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{claim}");
    id
}

async fn status_of(service: &ClaimService, id: &ClaimId) -> (ClaimStatus, Vec<RejectionCode>) {
    let claim = service.store.get_claim(id).await.unwrap().unwrap();
    (
        claim.status,
        claim.rejections.iter().map(|r| r.code).collect(),
    )
}

#[tokio::test]
async fn twenty_claims_against_a_fund_for_five_reserve_exactly_five() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner, "500").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let body = claim_body(&fund_id, "100", &format!("INV-{i}"));
        ids.push(submitted(&service, &partner, body, Some("application/pdf")).await);
    }
    let outcomes = futures_util::future::join_all(ids.iter().map(|id| service.validate(id))).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let mut approved = 0;
    for id in &ids {
        match status_of(&service, id).await {
            (ClaimStatus::Approved, _) => approved += 1,
            (ClaimStatus::Rejected, codes) => assert_eq!(codes, [RejectionCode::InsufficientFunds]),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(approved, 5);
    let fund = service
        .store
        .get_fund(&fund_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (fund.available.to_string(), fund.reserved.to_string()),
        ("0".into(), "500".into())
    );
}

#[tokio::test]
async fn each_rejection_reason_is_stated() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner, "100000").await;
    let pdf = Some("application/pdf");
    // Without currency conversion, a claim in another currency than the pre-approval amount's
    // needs pre-approval too.
    let cases: Vec<(serde_json::Value, Option<&str>, Vec<RejectionCode>)> = vec![
        (
            claim_body(&fund_id, "100", "A"),
            None,
            vec![RejectionCode::DocumentMissing],
        ),
        (
            claim_body(&fund_id, "100", "B"),
            Some("application/zip"),
            vec![RejectionCode::DocumentInvalid],
        ),
        (
            {
                let mut b = claim_body(&fund_id, "100", "C");
                b["activity_starts_on"] = today()
                    .checked_sub_days(Days::new(80))
                    .unwrap()
                    .to_string()
                    .into();
                b["activity_ends_on"] = today()
                    .checked_sub_days(Days::new(61))
                    .unwrap()
                    .to_string()
                    .into();
                b
            },
            pdf,
            vec![RejectionCode::PastDeadline],
        ),
        (
            {
                let mut b = claim_body(&fund_id, "100", "D");
                b["activity_starts_on"] = today()
                    .checked_sub_days(Days::new(95))
                    .unwrap()
                    .to_string()
                    .into();
                b
            },
            pdf,
            vec![RejectionCode::OutsideFundPeriod],
        ),
        (
            {
                let mut b = claim_body(&fund_id, "100", "E");
                b["amount"]["currency"] = "EUR".into();
                b
            },
            pdf,
            vec![
                RejectionCode::CurrencyMismatch,
                RejectionCode::PreApprovalRequired,
            ],
        ),
        (
            claim_body(&fund_id, "6000", "F"),
            pdf,
            vec![RejectionCode::PreApprovalRequired],
        ),
    ];
    for (body, upload, expected) in cases {
        let id = submitted(&service, &partner, body, upload).await;
        assert_eq!(
            service.validate(&id).await.unwrap(),
            Some(ClaimStatus::Rejected)
        );
        let (status, codes) = status_of(&service, &id).await;
        assert_eq!((status, codes), (ClaimStatus::Rejected, expected));
    }
    // The same claim twice: the first holds the money, the second is a duplicate.
    let first = submitted(&service, &partner, claim_body(&fund_id, "100", "G"), pdf).await;
    let second = submitted(&service, &partner, claim_body(&fund_id, "100.00", "g"), pdf).await;
    service.validate(&first).await.unwrap();
    service.validate(&second).await.unwrap();
    assert_eq!(status_of(&service, &first).await.0, ClaimStatus::Approved);
    assert_eq!(
        status_of(&service, &second).await,
        (ClaimStatus::Rejected, vec![RejectionCode::Duplicate])
    );
    // Rejections changed no balance: only the approved claim is reserved.
    let fund = service
        .store
        .get_fund(&fund_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fund.reserved.to_string(), "100");
}

#[tokio::test]
async fn a_resubmitted_claim_is_validated_once_and_paid_once() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner, "5000").await;
    let who = partner.id.as_str();
    let id = submitted(
        &service,
        &partner,
        claim_body(&fund_id, "2500", "X-1"),
        Some("application/pdf"),
    )
    .await;
    // Submitted again before validation: queued again, nothing else changes.
    let (status, _) = call(
        &service,
        "POST",
        &format!("/claims/{id}/submit"),
        None,
        "partner",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        service.validate(&id).await.unwrap(),
        Some(ClaimStatus::NeedsReview)
    );
    assert_eq!(
        service.validate(&id).await.unwrap(),
        None,
        "a redelivery does nothing"
    );
    let (status, _) = call(
        &service,
        "POST",
        &format!("/claims/{id}/submit"),
        None,
        "partner",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let decide = format!("/claims/{id}/decision");
    let (status, _) = call(
        &service,
        "POST",
        &decide,
        Some(serde_json::json!({"decision": "approve"})),
        "partner",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, claim) = call(
        &service,
        "POST",
        &decide,
        Some(serde_json::json!({"decision": "approve"})),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(
        (status, claim["status"].clone()),
        (StatusCode::OK, "approved".into())
    );

    let pay = format!("/claims/{id}/payment");
    let body = serde_json::json!({"payment_reference": "ERP-77"});
    let (status, claim) = call(
        &service,
        "POST",
        &pay,
        Some(body.clone()),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(
        (status, claim["status"].clone()),
        (StatusCode::OK, "paid".into())
    );
    let (status, again) = call(&service, "POST", &pay, Some(body), "channel_manager", "mia").await;
    assert_eq!(
        (status, again["version"].clone()),
        (StatusCode::OK, claim["version"].clone()),
        "the same payment again changes nothing"
    );
    let other = serde_json::json!({"payment_reference": "ERP-78"});
    let (status, _) = call(
        &service,
        "POST",
        &pay,
        Some(other),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "paid once only");
    let fund = service
        .store
        .get_fund(&fund_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            fund.available.to_string(),
            fund.reserved.to_string(),
            fund.paid.to_string()
        ),
        ("2500".into(), "0".into(), "2500".into())
    );
    // The ERP hears of the payment.
    let sqs = testing::sqs_client().await;
    let sent = testing::drain(&sqs, &service.settings.notifications_queue_url).await;
    assert!(
        sent.iter()
            .any(|m| m.contains("\"claim.paid\"") && m.contains("ERP-77")),
        "{sent:?}"
    );

    let (status, audit) = call(
        &service,
        "GET",
        &format!("/claims/{id}/audit"),
        None,
        "partner",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let trail: Vec<_> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        trail,
        ["draft", "submitted", "needs_review", "approved", "paid"]
    );
    assert_eq!(audit["audit"][3]["actor"], "mia");
}

#[tokio::test]
async fn a_manager_rejection_releases_the_reservation() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner, "5000").await;
    let id = submitted(
        &service,
        &partner,
        claim_body(&fund_id, "3000", "R-1"),
        Some("application/pdf"),
    )
    .await;
    service.validate(&id).await.unwrap();
    let decide = format!("/claims/{id}/decision");
    let (status, _) = call(
        &service,
        "POST",
        &decide,
        Some(serde_json::json!({"decision": "reject", "reason": " "})),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Nor an unbounded one: it travels in the claim's notification (SQS: 256 KiB).
    let (status, _) = call(
        &service,
        "POST",
        &decide,
        Some(serde_json::json!({"decision": "reject", "reason": "x".repeat(200_000)})),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, claim) = call(
        &service,
        "POST",
        &decide,
        Some(serde_json::json!({"decision": "reject", "reason": "no attendee list"})),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(claim["rejections"][0]["detail"], "no attendee list");
    let fund = service
        .store
        .get_fund(&fund_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (fund.available.to_string(), fund.reserved.to_string()),
        ("5000".into(), "0".into())
    );
    // The same claim again is no duplicate now: the rejected one holds nothing.
    let again = submitted(
        &service,
        &partner,
        claim_body(&fund_id, "3000", "R-1"),
        Some("application/pdf"),
    )
    .await;
    assert_eq!(
        service.validate(&again).await.unwrap(),
        Some(ClaimStatus::NeedsReview)
    );
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner, "5000").await;
    let other = testing::partner(&service.store, PartnerStatus::Active).await;
    let theirs = fund(&service, &other, "5000").await;
    let who = partner.id.as_str();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (claim_body(&fund_id, "-5", "N"), "amount"),
        (
            {
                let mut b = claim_body(&fund_id, "5", "N");
                b["activity_ends_on"] = "2020-01-01".into();
                b
            },
            "activity_ends_on",
        ),
        (
            claim_body("fnd_01jc0000000000000000000000", "5", "N"),
            "fund_id",
        ),
        (claim_body(&theirs, "5", "N"), "fund_id"),
        (
            {
                let mut b = claim_body(&fund_id, "5", "N");
                b["documents"][0]["size"] = (2u64 << 20).into();
                b
            },
            "documents[0].size",
        ),
        (
            {
                let mut b = claim_body(&fund_id, "5", "N");
                b["documents"][0]["content_type"] = "application/zip".into();
                b
            },
            "documents[0].content_type",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = call(&service, "POST", "/claims", Some(body), "partner", who).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (_, listed) = call(&service, "GET", "/claims", None, "partner", who).await;
    assert_eq!(listed["claims"], serde_json::json!([]));

    // A negative fund allocation, and funds or claims of another partner.
    let (status, _) = call(
        &service,
        "POST",
        "/funds",
        Some(serde_json::json!({
        "partner_id": partner.id, "name": "x", "amount": {"amount": "-1", "currency": "USD"},
        "starts_on": "2026-01-01", "ends_on": "2026-02-01", "expires_on": "2026-03-01"})),
        "vendor_admin",
        "ada",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, funds) = call(&service, "GET", "/funds", None, "partner", who).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<_> = funds["funds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(ids, [serde_json::Value::from(fund_id.clone())]);
    assert_eq!(funds["funds"][0]["available"], "5000");
    let id = submitted(&service, &other, claim_body(&theirs, "5", "T"), None).await;
    let (status, _) = call(
        &service,
        "GET",
        &format!("/claims/{id}"),
        None,
        "partner",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &service,
        "POST",
        &format!("/claims/{id}/submit"),
        None,
        "partner",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn inactive_partners_cannot_claim_and_large_claims_use_an_approved_request() {
    let (service, partner) = testing::claim_service().await;
    let fund_id = fund(&service, &partner, "20000").await;
    let pending = testing::partner(&service.store, PartnerStatus::Pending).await;
    let (status, _) = call(
        &service,
        "POST",
        "/claims",
        Some(claim_body(&fund_id, "5", "P")),
        "partner",
        pending.id.as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let who = partner.id.as_str();
    let (status, request) = call(&service, "POST", "/mdf-requests", Some(serde_json::json!({
        "fund_id": fund_id, "activity_type": "event",
        "starts_on": today().checked_sub_days(Days::new(3)).unwrap(),
        "ends_on": today().checked_sub_days(Days::new(2)).unwrap(),
        "cost": {"amount": "9000", "currency": "USD"}, "requested": {"amount": "7000", "currency": "USD"},
        "expected_outcome": "60 leads"})), "partner", who).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let request_id = request["id"].as_str().unwrap();
    let (status, decided) = call(
        &service,
        "POST",
        &format!("/mdf-requests/{request_id}/decision"),
        Some(serde_json::json!({"decision": "approve"})),
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(
        (status, decided["status"].clone()),
        (StatusCode::OK, "approved".into())
    );
    let mut body = claim_body(&fund_id, "6500", "BIG-1");
    body["mdf_request_id"] = request_id.into();
    let id = submitted(&service, &partner, body.clone(), Some("application/pdf")).await;
    assert_eq!(
        service.validate(&id).await.unwrap(),
        Some(ClaimStatus::NeedsReview)
    );
    // One approved request backs one claim.
    body["invoice_number"] = "BIG-2".into();
    let second = submitted(&service, &partner, body, Some("application/pdf")).await;
    assert_eq!(
        service.validate(&second).await.unwrap(),
        Some(ClaimStatus::Rejected)
    );
    let claim = service.store.get_claim(&second).await.unwrap().unwrap();
    assert_eq!(
        claim.rejections[0].detail,
        "the MDF request backs another claim already"
    );
}

#[tokio::test]
async fn co_op_funds_credited_by_accrual_are_listed_with_their_balance() {
    let (service, partner) = testing::claim_service().await;
    // A co-op fund as accrual leaves it (see rebate-accrue): read through the same port.
    let fund = tributary::domain::claim::FundRequest {
        partner_id: partner.id.clone(),
        name: "Co-op 2026-Q4".into(),
        amount: tributary::domain::Money::parse("120", "USD").unwrap(),
        starts_on: today(),
        ends_on: today(),
        expires_on: today(),
    }
    .into_fund()
    .unwrap();
    let mut co_op = fund.clone();
    co_op.kind = FundKind::CoOp;
    service.store.create_fund(&co_op).await.unwrap();
    let funds = service
        .funds(&principal(Role::Partner, partner.id.as_str()), None)
        .await
        .unwrap();
    assert_eq!(
        (funds[0].kind, funds[0].available.to_string()),
        (FundKind::CoOp, "120".into())
    );
    let staff = service
        .funds(&principal(Role::ChannelManager, "mia"), None)
        .await;
    assert!(staff.is_err(), "vendor staff name the partner");
}

#[tokio::test]
async fn ship_and_debit_is_paid_on_what_the_pos_reports_within_the_authorisation() {
    use tributary::domain::pos::{PosLine, TransactionType};
    use tributary::domain::{Money, PartnerKind};
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
    let other = Partner::new(
        "Litware",
        PartnerKind::Distributor,
        "US",
        PartnerStatus::Active,
        Utc::now(),
    )
    .unwrap();
    service.store.create_partner(&other).await.unwrap();
    let line = |invoice: &str, quantity: i64, kind: TransactionType| PosLine {
        distributor: distributor.id.clone(),
        reseller_id: Some(reseller.id.clone()),
        reseller_name: None,
        end_customer_name: Some("Contoso Hospital".into()),
        end_customer_country: None,
        sku: "SEC-FW-500".into(),
        quantity,
        unit_price: Money::parse("900", "USD").unwrap(),
        invoice_number: invoice.into(),
        line_number: "1".into(),
        invoice_date: today(),
        transaction_type: kind,
        held: false,
    };
    let stored: Vec<StoredLine> = [
        line("A", 3, TransactionType::ShipAndDebit),
        line("B", 4, TransactionType::ShipAndDebit),
        line("C", 5, TransactionType::ShipAndDebit),
        line("D", 1, TransactionType::StockSale),
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| StoredLine {
        key: l.key(),
        file: tributary::domain::pos::FileId::of_object("b", "k", "v"),
        row: i as u64 + 2,
        line: serde_json::to_string(l).unwrap(),
        held: None,
    })
    .collect();
    service.store.put_lines(stored, 1).await.unwrap();

    let authorization = serde_json::json!({
        "distributor_id": distributor.id, "sku": "SEC-FW-500", "end_customer": "Contoso Hospital, Inc.",
        "book_cost": {"amount": "1000.00", "currency": "USD"}, "authorized_cost": {"amount": "820.00", "currency": "USD"},
        "max_quantity": 10, "starts_on": today().checked_sub_days(Days::new(30)).unwrap(),
        "ends_on": today().checked_add_days(Days::new(30)).unwrap()});
    let (status, created) = call(
        &service,
        "POST",
        "/ship-debit/authorizations",
        Some(authorization.clone()),
        "vendor_admin",
        "ada",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let auth = created["id"].as_str().unwrap();
    let mut reversed = authorization.clone();
    reversed["authorized_cost"]["amount"] = "1200".into();
    let (status, _) = call(
        &service,
        "POST",
        "/ship-debit/authorizations",
        Some(reversed),
        "vendor_admin",
        "ada",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let claim = |invoices: &[&str]| serde_json::json!({"authorization_id": auth, "lines": invoices.iter().map(|i| serde_json::json!({"invoice_number": i, "line_number": "1"})).collect::<Vec<_>>()});
    let who = distributor.id.as_str();
    let (status, accepted) = call(
        &service,
        "POST",
        "/ship-debit/claims",
        Some(claim(&["A", "B"])),
        "distributor",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    // (1,000.00 - 820.00) x 7 units, recomputed from the POS lines.
    assert_eq!(
        (
            accepted["quantity"].clone(),
            accepted["debit"]["amount"].clone()
        ),
        (7.into(), "1260.00".into())
    );

    let (status, _) = call(
        &service,
        "POST",
        "/ship-debit/claims",
        Some(claim(&["A"])),
        "distributor",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a POS line is claimed once");
    let (status, problem) = call(
        &service,
        "POST",
        "/ship-debit/claims",
        Some(claim(&["C"])),
        "distributor",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem
            .to_string()
            .contains("5 units exceed the 3 the authorisation has left"),
        "{problem}"
    );
    let (status, problem) = call(
        &service,
        "POST",
        "/ship-debit/claims",
        Some(claim(&["D", "Z"])),
        "distributor",
        who,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem.to_string().contains("reported as stock_sale"),
        "{problem}"
    );
    assert!(
        problem
            .to_string()
            .contains("no POS line of yours reports invoice Z line 1"),
        "{problem}"
    );
    let (status, _) = call(
        &service,
        "POST",
        "/ship-debit/claims",
        Some(claim(&["C"])),
        "distributor",
        other.id.as_str(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another distributor's authorisation"
    );
    let (status, _) = call(
        &service,
        "POST",
        "/ship-debit/claims",
        Some(claim(&["C"])),
        "partner",
        reseller.id.as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, listed) = call(
        &service,
        "GET",
        "/ship-debit/authorizations",
        None,
        "distributor",
        who,
    )
    .await;
    assert_eq!(listed["authorizations"][0]["remaining_quantity"], 3);
    let (_, claims) = call(
        &service,
        "GET",
        &format!("/ship-debit/claims?distributor={}", distributor.id),
        None,
        "channel_manager",
        "mia",
    )
    .await;
    assert_eq!(claims["claims"].as_array().unwrap().len(), 1);
}

#[test]
fn the_route_table_is_the_templates() {
    tributary::testing::routes::assert_route_table("claim-upload", ROUTES.keys());
}
